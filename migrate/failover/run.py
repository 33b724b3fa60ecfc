"""Drive one runbook run for the CLI: new or resumed, progress on stderr, reports at the end;
or its dry run."""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from migrate.errors import InputError, StepFailed
from migrate.redact import redact
from migrate.runbook.journal import RunJournal
from migrate.runbook.model import Runbook, load_runbook, parse_runbook
from migrate.runbook.runner import Engine, StepContext


@dataclass
class RunOutcome:
    journal: RunJournal
    report: dict[str, Any]
    files: dict[str, Path]
    error: StepFailed | None


class Printer:
    """One line per step event, on stderr (or wherever ``console`` writes)."""

    def __init__(self, console: Any) -> None:
        self.console = console

    def __call__(self, kind: str, data: dict[str, Any]) -> None:
        n = f"[{data.get('index', '?')}/{data.get('total', '?')}]"
        step = data.get("step", "")
        line = {
            "step-start": f"{n} {step}: {data.get('title', '')} …",
            "step-ok": f"{n} {step}: ok ({data.get('seconds', 0):.1f}s)",
            "step-failed": f"{n} {step}: FAILED — {data.get('error', '')}",
            "step-skipped": f"{n} {step}: skipped — {data.get('detail', '')}",
            "step-reported": f"      {step}: FAILED (reported; the run goes on) — {data.get('error', '')}",
            "step-done-earlier": f"{n} {step}: already {data.get('status')} in this run, not repeated",
            "log": f"      {step}: {data.get('message', '')}",
            "progress": f"      {step}: {data.get('message', '')}",
            "rollback-start": f"  undo {step}: {data.get('title', '')} …",
            "rollback-ok": f"  undo {step}: done",
            "rollback-failed": f"  undo {step}: FAILED — {data.get('error', '')}",
        }.get(kind)
        if line:
            self.console.print(redact(line), markup=False, highlight=False, soft_wrap=True)


@contextlib.contextmanager
def _hangup_is_interrupt() -> Iterator[None]:
    """A dropped SSH session (SIGHUP) or SIGTERM stops the run like Ctrl-C: journaled, resumable."""

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGHUP, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def checked_params(runbook: Runbook, params: dict[str, Any], spec: Any) -> dict[str, Any]:
    """The run's parameters, defaults filled in and checked as the runbook declares (choices,
    targets of the spec, distinct targets): the same whichever command starts the runbook."""
    resolved = runbook.resolve_params(params)
    runbook.check_params(resolved, spec)
    return resolved


def dry_run(
    runbook_name: str, params: dict[str, Any], *, spec: Any, spec_path: Path | None
) -> tuple[Runbook, dict[str, Any]]:
    """What a run would do, changing nothing: the parameters checked as a real run checks them,
    then each step's arguments resolved and its describer asked (``migrate.runbook.dry_run``).
    Redacted as a run's journal is (a password in a backup URL, a secret a describer read)."""
    import json

    from migrate.runbook.dry_run import PlanContext, plan_steps

    runbook = load_runbook(runbook_name)
    params = checked_params(runbook, params, spec)
    steps = plan_steps(runbook, PlanContext("dry-run", params, spec=spec, spec_path=spec_path))
    document = {"dry_run": True, "runbook": runbook.name, "params": params, "steps": steps}
    return runbook, json.loads(redact(json.dumps(document, default=str)))


def throwaway_secrets(spec: Any) -> list[str]:
    """For a runbook whose stacks are throwaway (a drill): the app's secrets given as
    ``{env: VAR}`` and not set get a random value (never printed, registered for redaction)
    rather than failing the rehearsal; one note per secret says so."""
    import os
    import secrets

    from migrate.redact import register_secret

    notes = []
    for name, ref in spec.secrets.items():
        if ref.env is not None and os.environ.get(ref.env) is None:
            os.environ[ref.env] = secrets.token_urlsafe(32)
            register_secret(os.environ[ref.env])
            notes.append(
                f"drill: secrets.{name}: {ref.env} is not set; the drill's throwaway stacks get a random "
                "value (set it to rehearse with the real one)"
            )
    return notes


def start_or_resume(
    runbook_name: str,
    params: dict[str, Any],
    *,
    spec: Any,
    spec_path: Path | None,
    resume: str | bool | None,
    on_failure: Literal["stop", "rollback"],
    console: Any,
    reports_dir: Path,
) -> RunOutcome:
    if resume:
        journal = (
            RunJournal.open(resume) if isinstance(resume, str) else RunJournal.latest(load_runbook(runbook_name).name)
        )
        if journal is None:
            raise InputError(f"no unfinished {runbook_name} run to resume")
        state = journal.replay()
        if state.finished:
            raise InputError(f"run {journal.run_id} already finished ({state.status}); nothing to resume")
        journal.lock()
        runbook = parse_runbook(state.runbook, str(journal.path))
        params = state.params
        journal.write("run-resume", previous_status=state.status)
        console.print(f"resuming run {journal.run_id} (was {state.status})", markup=False)
    else:
        runbook = load_runbook(runbook_name)
        params = checked_params(runbook, params, spec)
        journal = RunJournal.create(
            runbook.model_dump(mode="json", by_alias=True), params, spec=str(spec_path) if spec_path else None
        )
        console.print(f"run {journal.run_id}: journal {journal.path}", markup=False, soft_wrap=True)
    if runbook.throwaway_secrets and spec is not None:
        for note in throwaway_secrets(spec):
            console.print(note, markup=False, soft_wrap=True)
    ctx = StepContext(journal.run_id, params, journal, spec=spec, spec_path=spec_path, on_event=Printer(console))
    engine = Engine(runbook, journal, ctx)
    error: StepFailed | None = None
    with _hangup_is_interrupt():
        try:
            engine.run(on_failure=on_failure)
        except StepFailed as exc:
            error = exc
        except KeyboardInterrupt:
            journal.write("log", step=ctx.step_id, message="run interrupted")
            console.print(f"interrupted; continue with: migrate {runbook.name} --resume {journal.run_id}", markup=False)
            raise
    from migrate.report.write import write_reports

    report, files = write_reports(journal, reports_dir)
    journal.close()
    return RunOutcome(journal, report, files, error)


def rollback_run(
    run_id: str | None, runbook_name: str, *, spec: Any, spec_path: Path | None, console: Any, reports_dir: Path
) -> RunOutcome:
    """Undo the steps that ran in a (failed or finished) run, each with its own rollback action."""
    journal = RunJournal.open(run_id) if run_id else RunJournal.latest(runbook_name, unfinished=False)
    if journal is None:
        raise InputError(f"no {runbook_name} run to roll back")
    journal.lock()
    state = journal.replay()
    runbook: Runbook = parse_runbook(state.runbook, str(journal.path))
    ctx = StepContext(
        journal.run_id,
        state.params,
        journal,
        spec=spec,
        spec_path=spec_path,
        results={k: v.outputs for k, v in state.steps.items()},
        on_event=Printer(console),
    )
    engine = Engine(runbook, journal, ctx)
    journal.write("run-resume", previous_status=state.status, purpose="rollback")
    engine.rollback()
    after = journal.replay()
    failed = [s.id for s in after.steps.values() if s.status == "rollback-failed"]
    journal.write("run-end", status="failed" if failed else "rolled-back", failed_step=failed[0] if failed else None)
    from migrate.report.write import write_reports

    report, files = write_reports(journal, reports_dir)
    journal.close()
    err = StepFailed(failed[0], "its rollback action failed", journal.run_id) if failed else None
    return RunOutcome(journal, report, files, err)


def now() -> float:
    return time.time()
