"""``migrate chaos terminate``: simulate a provider pulling the plug on a sandbox target."""

from __future__ import annotations

from typing import Annotated

import typer

from migrate.cli.common import DEFAULT_SPEC, JsonOption, Output, SpecOption, load

chaos_app = typer.Typer(help="Break things on purpose: cut a target off as its provider would.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(chaos_app, name="chaos")


@chaos_app.command("terminate")
def terminate(
    target: Annotated[str, typer.Option("--target", "-t", help="The target to cut off.")],
    spec: SpecOption = DEFAULT_SPEC,
    json_output: JsonOption = False,
) -> None:
    """Cut a target off at once through its adapter (local: SIGKILL every process; clouds: power
    off and deny all ingress; see `migrate providers`): no graceful step, no Pulumi call, so
    `migrate up` (clouds: `up --refresh`) brings it back."""
    from migrate.chaos import terminate as do_terminate

    out = Output(json_output)
    result = do_terminate(load(spec), target)
    out.emit(
        {
            "ok": True,
            "target": target,
            "address": result.address,
            "stopped": result.stopped,
            "how": result.how,
            "seconds": round(result.seconds, 3),
        }
    )
    if result.stopped:
        out.human.print(
            f"terminated {target} ({result.address}): {result.how} "
            f"({', '.join(sorted(result.stopped))}) in {result.seconds * 1000:.0f} ms",
            markup=False,
        )
    else:
        out.human.print(f"{target} ({result.address}): nothing was running", markup=False)
