"""``migrate chaos terminate``: simulate a provider pulling the plug on a sandbox target."""

from __future__ import annotations

from typing import Annotated

import typer

from migrate.cli.common import DEFAULT_SPEC, JsonOption, Output, SpecOption, load

chaos_app = typer.Typer(help="Break things on purpose (sandbox targets only).", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(chaos_app, name="chaos")


@chaos_app.command("terminate")
def terminate(
    target: Annotated[str, typer.Option("--target", "-t", help="The local target to kill.")],
    spec: SpecOption = DEFAULT_SPEC,
    json_output: JsonOption = False,
) -> None:
    """SIGKILL every process of a local target at once: no graceful step, state untouched."""
    from migrate.chaos import terminate as do_terminate

    out = Output(json_output)
    result = do_terminate(load(spec), target)
    out.emit(
        {
            "ok": True,
            "target": target,
            "address": result.address,
            "killed": result.killed,
            "seconds": round(result.seconds, 3),
        }
    )
    if result.killed:
        out.human.print(
            f"terminated {target} ({result.address}): killed {len(result.killed)} processes "
            f"({', '.join(sorted(result.killed))}) in {result.seconds * 1000:.0f} ms",
            markup=False,
        )
    else:
        out.human.print(f"{target} ({result.address}): nothing was running", markup=False)
