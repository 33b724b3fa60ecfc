"""``migrate audit``: what would not survive the termination of each target's provider."""

from __future__ import annotations

from typing import Annotated

import typer

from migrate.cli.common import DEFAULT_SPEC, JsonOption, Output, SpecOption, load


def register(app: typer.Typer) -> None:
    app.command("audit")(audit)


def audit(
    target: Annotated[
        list[str] | None, typer.Option("--target", "-t", help="Audit only these targets.")
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit 1 when any critical finding is reported.")
    ] = False,
    spec: SpecOption = DEFAULT_SPEC,
    json_output: JsonOption = False,
) -> None:
    """List what in the spec would not survive each target's provider ending the account."""
    from rich.table import Table

    from migrate.audit import Severity
    from migrate.audit import audit as run_audit

    out = Output(json_output)
    results = run_audit(load(spec), target or None)
    critical = sum(1 for r in results for f in r.findings if f.severity is Severity.CRITICAL)
    out.emit({"ok": critical == 0, "critical": critical, "targets": [r.as_dict() for r in results]})
    style = {Severity.CRITICAL: "bold red", Severity.WARNING: "yellow", Severity.INFO: "dim"}
    for result in results:
        table = Table(
            title=f"{result.target} ({result.provider}, run by {result.operator})",
            show_lines=True,
            expand=True,
        )
        table.add_column("severity", no_wrap=True)
        table.add_column("area", no_wrap=True)
        table.add_column("what would be lost")
        table.add_column("fix")
        for f in result.findings:
            table.add_row(f"[{style[f.severity]}]{f.severity.value}[/]", f.area, f.message, f.fix)
        if not result.findings:
            table.add_row("[green]ok[/]", "", "nothing found", "")
        out.human.print(table)
    out.human.print(f"{critical} critical finding(s) across {len(results)} target(s)")
    if strict and critical:
        raise typer.Exit(1)
