"""``migrate failover``, ``drill``, ``holding-page`` and ``runbook``: the product commands."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from migrate.cli.common import DEFAULT_SPEC, JsonOption, Output, SpecOption
from migrate.errors import InputError

FromOption = Annotated[str, typer.Option("--from", help="The target being left (A).")]
ToOption = Annotated[str, typer.Option("--to", help="The target taking over (B).")]
RUN_OPTIONS = (  # every command that starts a runbook takes these (see ``_runbook_command``)
    (
        "resume",
        Annotated[
            bool, typer.Option("--resume", help="Continue the latest unfinished run (or --run) where it stopped.")
        ],
        False,
    ),
    (
        "run_id",
        Annotated[str | None, typer.Option("--run", help="A run id (see the journal), for --resume/--rollback.")],
        None,
    ),
    (
        "dry_run",
        Annotated[bool, typer.Option("--dry-run", help="Print the runbook and each step's plan; change nothing.")],
        False,
    ),
    ("reports", Annotated[Path, typer.Option("--reports", help="Where reports are written.")], Path("reports")),
    ("spec", SpecOption, DEFAULT_SPEC),
    ("json_output", JsonOption, False),
)


@dataclass(frozen=True)
class RunArgs:
    """The options of ``RUN_OPTIONS``, handed to a runbook command as one value."""

    resume: bool
    run_id: str | None
    dry_run: bool
    reports: Path
    spec: Path
    json_output: bool


def _runbook_command(fn: Callable[..., None]) -> Callable[..., None]:
    """The command ``fn(..., run: RunArgs)`` with the options of ``RUN_OPTIONS`` after its own,
    declared once for every command that starts a runbook (Typer reads the signature)."""
    own = [p for p in inspect.signature(fn, eval_str=True).parameters.values() if p.name != "run"]
    shared = [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, annotation=a, default=d) for n, a, d in RUN_OPTIONS]

    @functools.wraps(fn)
    def command(**options: Any) -> None:
        fn(**{p.name: options[p.name] for p in own}, run=RunArgs(**{n: options[n] for n, _, _ in RUN_OPTIONS}))

    command.__signature__ = inspect.Signature([*own, *shared])  # type: ignore[attr-defined]
    return command


def register(app: typer.Typer) -> None:
    app.command("failover")(failover)
    app.command("drill")(drill)

    holding = typer.Typer(help="Put up or take down the holding page.", no_args_is_help=True)
    holding.command("up")(holding_up)
    holding.command("down")(holding_down)
    app.add_typer(holding, name="holding-page")
    runbooks = typer.Typer(help="Show or run runbooks (runbooks/*.yaml).", no_args_is_help=True)
    runbooks.command("show")(runbook_show)
    runbooks.command("run")(runbook_run)
    runbooks.command("list")(runbook_list)
    app.add_typer(runbooks, name="runbook")


def _load_spec(path: Path) -> Any:
    from migrate.cli.common import load

    return load(path)


def _finish(out: Output, outcome: Any, summary: list[str]) -> None:
    report = outcome.report
    out.emit(report)
    for line in summary:
        out.human.print(line, markup=False, soft_wrap=True)
    out.human.print(
        f"report: {outcome.files['html']} (JSON {outcome.files['json']}, JUnit {outcome.files['junit']})",
        markup=False,
        soft_wrap=True,
    )
    if outcome.error is not None:
        out.stderr.print(f"error: {outcome.error}", markup=False, soft_wrap=True)
        raise typer.Exit(1)


def spec_params(spec: Any) -> dict[str, Any]:
    """What the runbooks' ``manual:`` lines name from the spec (its domain, its health path)."""
    try:
        health_path = spec.public_process()[1].health_path
    except LookupError:
        health_path = "/"
    return {"domain": spec.service.domain, "health_path": health_path}


def _dry_run(out: Output, runbook_name: str, params: dict[str, Any], spec: Any, spec_path: Path | None) -> None:
    """The runbook for a person, then each step's plan: what it would do, nothing changed."""
    from migrate.failover.run import dry_run
    from migrate.runbook.render import to_markdown

    runbook, document = dry_run(runbook_name, params, spec=spec, spec_path=spec_path)
    out.emit(document)
    shown = {**(spec_params(spec) if spec is not None else {}), **document["params"]}
    out.human.print(to_markdown(runbook, shown), markup=False, soft_wrap=True)
    out.human.print("## Plan (dry run: nothing was changed)\n", markup=False)
    for number, step in enumerate(document["steps"], 1):
        arguments = ", ".join(f"{k}={v}" for k, v in step["with"].items())
        lines = [f"### {number}. {step['title']} (`{step['id']}`)", "", f"- do: {step['action']}({arguments})"]
        if step["precondition"] is not None:
            verdict = step["precondition"]
            holds = "" if "holds" not in verdict else f" ({'holds' if verdict['holds'] else 'does not hold'})"
            lines.append(f"- before: {verdict['do']}{holds}")
        for key, value in step["plan"].items():
            if isinstance(value, list):
                lines += [f"- {key}:" + ("" if value else " none"), *(f"  - {item}" for item in value)]
            else:
                lines.append(f"- {key}: {value}")
        out.human.print("\n".join(lines) + "\n", markup=False, soft_wrap=True)


def _start(out: Output, runbook: str, params: dict[str, Any], run: RunArgs, spec: Any, on_failure: str) -> Any:
    """A dry run (printed; None) or the run itself, new or resumed (its outcome)."""
    from migrate.failover.run import start_or_resume

    spec_path = run.spec if spec is not None else None
    if run.dry_run:
        _dry_run(out, runbook, params, spec, spec_path)
        return None
    if on_failure not in ("stop", "rollback"):
        raise InputError(f"--on-failure must be stop or rollback, not {on_failure!r}")
    return start_or_resume(
        runbook,
        params,
        spec=spec,
        spec_path=spec_path,
        resume=(run.run_id or True) if run.resume else None,
        on_failure=on_failure,  # type: ignore[arg-type]
        console=out.stderr,
        reports_dir=run.reports,
    )


def _pair(source: str, dest: str, run: RunArgs) -> None:
    if not run.resume and (not source or not dest):
        raise InputError("give --from and --to (or --resume to continue a run)")


@_runbook_command
def failover(
    source: FromOption = "",
    dest: ToOption = "",
    backup: Annotated[
        str | None, typer.Option("--backup", help="Backup LOCATION to restore from if A is gone.")
    ] = None,
    holding_on: Annotated[
        str | None,
        typer.Option(
            "--holding-on",
            help="Target whose address serves the holding page (default: --from, taking over its address).",
        ),
    ] = None,
    on_failure: Annotated[str, typer.Option("--on-failure", help="stop (fix, then --resume) or rollback.")] = "stop",
    rollback: Annotated[
        bool, typer.Option("--rollback", help="Undo the steps that ran in the last run (or --run).")
    ] = False,
    *,
    run: RunArgs,
) -> None:
    """Move the service from A to B: holding page, provision, data, smoke, DNS swing, verify, report."""
    out = Output(run.json_output)
    loaded = _load_spec(run.spec)
    if rollback:
        from migrate.failover.run import rollback_run

        outcome = rollback_run(
            run.run_id, "failover", spec=loaded, spec_path=run.spec, console=out.stderr, reports_dir=run.reports
        )
        _finish(out, outcome, [f"rolled back run {outcome.journal.run_id}: {outcome.report['status']}"])
        return
    _pair(source, dest, run)
    params = {"from": source, "to": dest, "backup": backup, "holding_on": holding_on}
    outcome = _start(out, "failover", params, run, loaded, on_failure)
    if outcome is not None:
        moved = outcome.report["params"]
        _finish(out, outcome, [f"failover {moved['from']} → {moved['to']}: {outcome.report['status']}"])


@_runbook_command
def drill(
    source: FromOption = "",
    dest: ToOption = "",
    rate: Annotated[float, typer.Option("--rate", help="Writes per second of the load against A.")] = 50.0,
    load_seconds: Annotated[float, typer.Option("--load-seconds", help="Seconds of load before A is killed.")] = 5.0,
    image_every: Annotated[
        int,
        typer.Option(
            "--image-every",
            min=0,
            help="Every K-th write of the load uploads an image, to measure media loss too (0: text only).",
        ),
    ] = 20,
    data_mode: Annotated[
        str,
        typer.Option(
            "--data", help="replica (warm standby + replication) or restore (backup of A restored on B after the kill)."
        ),
    ] = "replica",
    sync_replication: Annotated[
        bool,
        typer.Option(
            "--sync-replication/--async-replication",
            help="replica mode: A's commits wait for B (RPO 0, slower writes) or not.",
        ),
    ] = True,
    seed_mb: Annotated[int, typer.Option("--seed-mb", help="MB of ballast rows seeded into A's database.")] = 0,
    media_mb: Annotated[int, typer.Option("--media-mb", help="MB of media objects seeded into A's bucket.")] = 0,
    keep: Annotated[bool, typer.Option("--keep", help="Leave the drill's stacks up for inspection.")] = False,
    *,
    run: RunArgs,
) -> None:
    """Rehearse a failover on throwaway stacks under write load; measure RTO and RPO; report."""
    out = Output(run.json_output)
    loaded = _load_spec(run.spec)
    _pair(source, dest, run)
    params = {
        "from": source,
        "to": dest,
        "rate": rate,
        "load_seconds": load_seconds,
        "image_every": image_every,
        "data_mode": data_mode,
        "sync_replication": sync_replication,
        "seed_mb": seed_mb,
        "media_mb": media_mb,
        "keep": keep,
    }
    outcome = _start(out, "drill", params, run, loaded, "rollback")
    if outcome is None:
        return
    figures = outcome.report.get("figures", {})
    lines = [f"drill {outcome.report['params']['from']} → {outcome.report['params']['to']}: {outcome.report['status']}"]
    if figures.get("rto_seconds") is not None:
        lines.append(
            f"RTO {figures['rto_seconds']:.2f}s (goal {figures.get('rto_goal_seconds')}s), "
            f"{figures.get('rto_with_ttl_seconds', 0):.2f}s with one DNS TTL; "
            f"{figures.get('takeover_route') or 'unknown'} route"
        )
    if figures.get("rpo_writes") is not None and figures.get("probes", True):
        lines.append(
            f"RPO {figures['rpo_writes']} acknowledged writes lost of {figures.get('acked_writes')}, "
            f"{figures.get('rpo_seconds', 0):.2f}s of writes (goal {figures.get('rpo_goal_seconds')}s)"
        )
    if figures.get("media_writes"):
        lines.append(
            f"media: {figures['media_writes_lost']} acknowledged uploads lost of {figures['media_writes']}, "
            f"{figures.get('media_rpo_seconds', 0):.2f}s of uploads"
        )
    if not figures.get("probes") and figures.get("rpo"):
        lines.append("the spec has no probes: section — RPO from migrate's canary only")
    for kind, label in (("canary_rows", "canary rows"), ("canary_objects", "canary objects")):
        counted = (figures.get("rpo") or {}).get(kind) or {}
        if counted.get("acked"):
            lines.append(f"{label}: {counted['lost']} lost of {counted['acked']}, {counted['seconds']:.2f}s")
    if figures.get("load_rate_achieved") is not None:
        lines.append(f"load carried {figures['load_rate_achieved']}/s of {figures.get('load_rate_asked')}/s asked")
    _finish(out, outcome, lines)


def _holding_address(spec: Any, target: str | None, bind: str | None, port: int | None) -> tuple[str, int]:
    from migrate.engine.stack_outputs import load_outputs
    from migrate.failover.actions import holding_address

    if bind:
        return bind, port or 80
    if not target:
        raise InputError("give --on TARGET (or --bind ADDRESS)")
    address, default_port = holding_address(spec, target, lambda: load_outputs(spec, target))
    return address, port or default_port


def holding_up(
    on: Annotated[str | None, typer.Option("--on", help="Serve on this target's address.")] = None,
    bind: Annotated[str | None, typer.Option("--bind", help="Serve on this address instead.")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port (default: the target's HTTP port).")] = None,
    spec: SpecOption = DEFAULT_SPEC,
    json_output: JsonOption = False,
) -> None:
    """Serve the spec's holding page (title and message) within seconds, detached."""
    from migrate import holding_page

    out = Output(json_output)
    loaded = _load_spec(spec)
    address, real_port = _holding_address(loaded, on, bind, port)
    result = holding_page.up(address, real_port, loaded.holding_page.title, loaded.holding_page.message)
    out.emit({"ok": True, **result})
    out.human.print(f"holding page up at {result['url']} ({result['seconds']:.2f}s)", markup=False)


def holding_down(
    on: Annotated[str | None, typer.Option("--on", help="The target it was put up on.")] = None,
    bind: Annotated[str | None, typer.Option("--bind", help="The address it was put up on.")] = None,
    port: Annotated[int | None, typer.Option("--port")] = None,
    spec: SpecOption = DEFAULT_SPEC,
    json_output: JsonOption = False,
) -> None:
    """Stop the holding page."""
    from migrate import holding_page

    out = Output(json_output)
    loaded = _load_spec(spec)
    address, real_port = _holding_address(loaded, on, bind, port)
    stopped = holding_page.down(address, real_port)
    out.emit({"ok": True, "stopped": stopped, "address": address, "port": real_port})
    out.human.print(
        f"holding page on {address}:{real_port}: {'stopped' if stopped else 'was not running'}", markup=False
    )


def runbook_list(json_output: JsonOption = False) -> None:
    """The runbooks migrate can find (runbooks/ here, the project's own, $MIGRATE_RUNBOOKS)."""
    from migrate.runbook.model import load_runbook, search_path

    out = Output(json_output)
    found = {}
    for directory in reversed(search_path()):
        if directory.is_dir():
            for path in sorted(directory.glob("*.yaml")):
                found[path.stem] = load_runbook(path)
    out.emit([{"name": r.name, "title": r.title, "steps": len(r.steps)} for r in found.values()])
    for runbook in found.values():
        out.human.print(f"{runbook.name:12} {runbook.title} ({len(runbook.steps)} steps)", markup=False)


def runbook_show(
    name: Annotated[str, typer.Argument(help="Runbook name (failover, drill, rollback) or a file.")],
    source: Annotated[str | None, typer.Option("--from", help="Fill in the from parameter.")] = None,
    dest: Annotated[str | None, typer.Option("--to", help="Fill in the to parameter.")] = None,
    spec: SpecOption = DEFAULT_SPEC,
    json_output: JsonOption = False,
) -> None:
    """Render a runbook as Markdown for a person (the engine runs the very same file); the
    spec's domain and health path fill in its manual lines."""
    from migrate.runbook.model import load_runbook
    from migrate.runbook.render import to_markdown

    out = Output(json_output)
    runbook = load_runbook(name)
    params = {k: v for k, v in {"from": source, "to": dest}.items() if v}
    if spec.is_file():
        params = {**spec_params(_load_spec(spec)), **params}
    out.emit(runbook.model_dump(mode="json", by_alias=True))
    if not json_output:
        typer.echo(to_markdown(runbook, params or None))


@_runbook_command
def runbook_run(
    name: Annotated[str, typer.Argument(help="Runbook name or file.")],
    param: Annotated[list[str] | None, typer.Option("--param", "-p", help="KEY=VALUE, repeatable.")] = None,
    on_failure: Annotated[str, typer.Option("--on-failure", help="stop or rollback.")] = "stop",
    *,
    run: RunArgs,
) -> None:
    """Run any runbook with the journal, resume and rollback machinery (or --dry-run it)."""
    out = Output(run.json_output)
    params: dict[str, Any] = {}
    for item in param or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise InputError(f"--param {item!r}: expected KEY=VALUE")
        params[key] = value
    outcome = _start(out, name, params, run, _load_spec(run.spec) if run.spec.exists() else None, on_failure)
    if outcome is not None:
        _finish(out, outcome, [f"run {outcome.journal.run_id}: {outcome.report['status']}"])
