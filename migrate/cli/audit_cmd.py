"""``migrate audit`` (every target, ahead of time) and ``migrate preflight`` (the failover's
first step, by hand): what would not survive the termination of a target's provider."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from migrate.cli.common import DEFAULT_SPEC, JsonOption, Output, SpecOption, load

if TYPE_CHECKING:
    from migrate.audit.findings import Finding, Report

BackupOption = Annotated[
    str | None,
    typer.Option("--backup", help="Where the latest backups are (directory or s3://bucket); default $MIGRATE_BACKUP."),
]


def register(app: typer.Typer) -> None:
    app.command("audit")(audit)
    app.command("preflight")(preflight)


def audit(
    target: Annotated[list[str] | None, typer.Option("--target", "-t", help="Audit only these targets.")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Exit 1 when any critical finding is reported.")] = False,
    backup: BackupOption = None,
    spec: SpecOption = DEFAULT_SPEC,
    json_output: JsonOption = False,
) -> None:
    """List what in the spec would not survive each target's provider ending the account."""
    from migrate.audit.checks import audit as run_audit

    out = Output(json_output)
    report = run_audit(load(spec), target or None, backup)
    _show(out, report, "what would be lost")
    if strict and report.blocking:
        raise typer.Exit(1)


def preflight(
    source: Annotated[str, typer.Option("--from", help="The target you may have to leave.")],
    dest: Annotated[str | None, typer.Option("--to", help="The target you would move to.")] = None,
    backup: BackupOption = None,
    drill: Annotated[
        bool, typer.Option("--drill", help="The drill's pre-flight: --from must be terminable, and so on.")
    ] = False,
    data: Annotated[
        str, typer.Option("--data", help="With --drill: replica or restore (as `migrate drill`).")
    ] = "replica",
    spec: SpecOption = DEFAULT_SPEC,
    json_output: JsonOption = False,
) -> None:
    """The failover's pre-flight: state, backups and DNS reachable off --from; TTLs low enough;
    what the run will ask of each target's adapter (see `migrate providers`).

    Exits 1 on what would stop a failover (or, with --drill, a drill) from --from.
    """
    from migrate.audit.checks import preflight as run_preflight

    out = Output(json_output)
    report = run_preflight(load(spec), source, dest, backup, drill, data_mode=data)
    _show(out, report, "finding")
    if report.blocking:
        raise typer.Exit(1)


def _show(out: Output, report: Report, what: str) -> None:
    from rich.table import Table

    out.emit(report.as_dict())
    sections = [(f"zone ({len(report.zone)} finding(s))", report.zone)] if report.zone else []
    sections += [(f"{t.target} ({t.provider}, run by {t.operator})", t.findings) for t in report.targets]
    for title, findings in sections:
        table = Table(title=title, show_lines=True, expand=True)
        table.add_column("severity", no_wrap=True)
        table.add_column("area", no_wrap=True)
        table.add_column(what)
        table.add_column("fix")
        for f in findings:
            table.add_row(_severity(f), f.area, f.message, f.fix)
        if not findings:
            table.add_row("[green]ok[/]", "", "nothing found", "")
        out.human.print(table)
    out.human.print(
        f"{report.critical()} critical finding(s) across {len(report.targets)} target(s)"
        + (f"; {len(report.blocking)} blocking" if report.blocking else "")
    )


def _severity(finding: Finding) -> str:
    style = {"critical": "bold red", "warning": "yellow", "info": "dim", "ok": "green"}[finding.severity.value]
    return f"[{style}]{finding.severity.value}[/]"
