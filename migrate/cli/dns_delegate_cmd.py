"""``migrate dns delegate``: point the domain at new nameservers through its registrar.

Its own module (registered on the ``dns`` group) so the registrar path stays apart from
the swing/verify commands.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from migrate.cli.common import DEFAULT_SPEC, JsonOption, Output, SpecOption, load
from migrate.cli.dns_cmds import print_delegation
from migrate.errors import EXIT_FAILED

if TYPE_CHECKING:
    from migrate.dns.registrar_change import DelegatePlan, DelegateResult


def add_to(dns_app: typer.Typer) -> None:
    """``migrate dns delegate``: registered by dns_cmds, so building `dns` alone includes it."""
    dns_app.command("delegate")(delegate_cmd)


def _names(nameservers: list[object]) -> str:
    return (
        ", ".join(
            n.name.rstrip(".") + (f" (glue {' '.join(n.glue)})" if n.glue else "")  # type: ignore[attr-defined]
            for n in nameservers
        )
        or "none"
    )


def _print_plan(out: Output, plan: DelegatePlan) -> None:
    from rich.markup import escape

    out.human.print(f"registrar {plan.registrar.name} ({plan.registrar.kind}), {plan.zone}:")
    out.human.print(f"  now:   {_names(list(plan.before))}")
    out.human.print(f"  after: {_names(list(plan.wanted))}  ({escape(plan.source)})")
    for line in plan.warnings:
        out.human.print(f"  [yellow]warning:[/] {escape(line)}")
    if not plan.needed:
        out.human.print("  (already delegated there: no change)")


def _print_result(out: Output, result: DelegateResult, to: str | None) -> None:
    from rich.markup import escape

    if result.changed:
        op = f" (operation {result.operation})" if result.operation else ""
        out.human.print(
            f"[green]changed[/] at {result.plan.registrar.name}{op}; previous "
            f"nameservers journaled as {result.change_id} "
            f"(undo: migrate dns delegate --registrar {result.plan.registrar.name} "
            "--rollback)"
        )
    d = result.delegation
    if d is not None:
        print_delegation(out, d, prefix="parent ", differs="[yellow]not yet[/]")
    if result.delegation_error:
        out.human.print(f"[yellow]parent zone not checked:[/] {escape(result.delegation_error)}")
    if d is not None and d.ok:
        out.human.print("[green]delegated:[/] the parent zone hands out the new nameservers")
    elif result.delegation is not None or result.delegation_error:
        again = f"--to {to}" if to else " ".join(f"--ns {n.name.rstrip('.')}" for n in result.plan.wanted)
        out.human.print(
            "The parent zone does not show the change yet (registries publish "
            f"within minutes to hours); re-check: migrate dns delegation {again}"
        )


def delegate_cmd(
    registrar: Annotated[
        str, typer.Option("--registrar", help="Registrar (from the spec's registrars:) holding the domain.")
    ],
    to: Annotated[
        str | None, typer.Option("--to", help="DNS provider whose apex NS the domain should be delegated to.")
    ] = None,
    ns: Annotated[
        list[str] | None, typer.Option("--ns", help="Nameserver name to delegate to (repeatable; instead of --to).")
    ] = None,
    rollback: Annotated[
        bool, typer.Option("--rollback", help="Restore the nameservers journaled before the last change.")
    ] = False,
    spec_path: SpecOption = DEFAULT_SPEC,
    dry_run: Annotated[bool, typer.Option(help="Show the change; change nothing.")] = False,
    check: Annotated[
        bool, typer.Option(help="Afterwards, ask the parent zone's servers which nameservers they hand out.")
    ] = True,
    parent: Annotated[
        list[str] | None, typer.Option("--parent", help="Parent zone server HOST[:PORT] (default: found by resolving).")
    ] = None,
    wait: Annotated[
        float,
        typer.Option(
            help="Seconds to wait for the parent zone to show the change; exit 1 if it does not "
            "(0: check once and report)."
        ),
    ] = 0.0,
    json_output: JsonOption = False,
) -> None:
    """Set the domain's nameservers at the registrar (journaled first), then check the parent."""
    from migrate.dns.registrar_change import DelegateResult, apply_delegation, plan_delegation

    out = Output(json_output)
    spec = load(spec_path)
    plan = plan_delegation(spec, registrar, to=to, names=ns or [], rollback=rollback)
    _print_plan(out, plan)
    if dry_run:
        plan.registrar.close()
        out.human.print("dry run: nothing changed")
        out.emit(DelegateResult(plan, dry_run=True).to_json())
        return
    with out.stderr.status("changing the delegation") as spinner:
        result = apply_delegation(plan, check=check, parents=parent or [], wait=wait, status=spinner.update)
    out.emit(result.to_json())
    _print_result(out, result, to)
    if not result.ok:
        out.stderr.print(
            f"[red]error:[/] the parent zone did not delegate {plan.zone} to the new nameservers within {wait:.0f}s"
        )
        raise typer.Exit(EXIT_FAILED)
