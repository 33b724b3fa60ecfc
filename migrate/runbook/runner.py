"""Run a runbook step by step, journaled; resume an interrupted run; roll back what ran.

For each step: the precondition must hold (or the step is skipped, if the runbook says so);
``step-start`` is made durable; the action runs (retried if the step allows); its check must
pass; ``step-end`` with the outputs and timing is made durable. On resume, finished steps
are not run again (their journaled outputs are handed on); the step that was under way runs
again, which is why actions are written to be re-runnable. On failure the run stops and
says which step failed; rolling back runs, newest first, the rollback action of only the
steps that actually started, each recorded in the journal too.
"""

from __future__ import annotations

import dataclasses
import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from migrate.errors import CheckFailed, MigrateError, StepFailed
from migrate.home import migrate_home
from migrate.redact import redact
from migrate.runbook import registry
from migrate.runbook.journal import RunJournal, RunState
from migrate.runbook.model import Call, Runbook, Step, substitute

EventCallback = Callable[[str, dict[str, Any]], None]
# Fault injection for the kill-at-every-boundary tests: "before:ID", "start:ID" or "after:ID".
CRASH_ENV = "MIGRATE_CRASH_AT"
# Fault injection with real parts: at the point MIGRATE_FAULT_AT names (same forms), run the
# shell command MIGRATE_FAULT_RUN and wait for it (it may background work of its own), e.g.
# stop a DNS server before the swing or terminate the target while its data is restoring.
FAULT_ENV, FAULT_RUN_ENV = "MIGRATE_FAULT_AT", "MIGRATE_FAULT_RUN"


@dataclass
class StepContext:
    """What an action sees: the run's parameters, earlier steps' outputs, the journal."""

    run_id: str
    params: dict[str, Any]
    journal: RunJournal
    spec: Any = None
    spec_path: Path | None = None
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    step_id: str = ""
    on_event: EventCallback | None = None
    # Targets' outputs read during this run (TargetOutputs by target), shared by concurrent steps.
    outputs: dict[str, Any] = field(default_factory=dict)
    # What a step leaves running for later steps of this run, in this process (a canary writer).
    held: dict[str, Any] = field(default_factory=dict)

    @property
    def run_dir(self) -> Path:
        """A directory for this run's files (load logs, reports), kept next to the journal."""
        path = migrate_home() / "runs" / self.run_id
        path.mkdir(parents=True, exist_ok=True)
        return path

    def log(self, message: str, **data: Any) -> None:
        """A durable note from inside a step (what it is doing, what it found)."""
        record = self.journal.write("log", step=self.step_id, message=message, **data)
        self._emit("log", record)

    def mark(self, label: str, at: float | None = None) -> float:
        """A moment worth a line on the report's timeline (a termination, service restored)."""
        at = time.time() if at is None else at
        self.journal.write("mark", step=self.step_id, label=label, mark_at=at)
        return at

    def progress(self, message: str, done: float | None = None, total: float | None = None) -> None:
        self._emit("progress", {"step": self.step_id, "message": redact(message), "done": done, "total": total})

    def _emit(self, kind: str, data: dict[str, Any]) -> None:
        if self.on_event is not None:
            self.on_event(kind, data)


def _crash_point(point: str) -> None:
    if os.environ.get(FAULT_ENV) == point and os.environ.get(FAULT_RUN_ENV):
        subprocess.run(os.environ[FAULT_RUN_ENV], shell=True, check=False, stdin=subprocess.DEVNULL)
    if os.environ.get(CRASH_ENV) == point:
        os.kill(os.getpid(), signal.SIGKILL)


def _call(call: Call, ctx: StepContext) -> Any:
    return registry.lookup(call.do)(ctx, **call.arguments(ctx.params))


def _verdict(result: Any) -> tuple[bool, str]:
    if isinstance(result, tuple):
        ok, detail = result
        return bool(ok), str(detail)
    if isinstance(result, dict):
        return bool(result.get("ok")), str(result.get("detail", ""))
    return bool(result), ""


class Engine:
    def __init__(self, runbook: Runbook, journal: RunJournal, ctx: StepContext) -> None:
        self.runbook, self.journal, self.ctx = runbook, journal, ctx
        registry.load_for(runbook.imports)

    def _emit(self, kind: str, data: dict[str, Any]) -> None:
        if self.ctx.on_event is not None:
            self.ctx.on_event(kind, data)

    def run(self, *, on_failure: Literal["stop", "rollback"] = "stop") -> RunState:
        """Run (or continue) every step not finished yet; raise ``StepFailed`` on failure.

        A step starts once the steps it needs have finished (``needs``; by default every
        earlier step), so steps that do not depend on each other run at the same time, each
        journaled on its own. After a failure no new step starts except ``always`` ones,
        which run one by one once the steps under way have ended. A failing step marked
        ``on_failure: report`` is recorded and reported, and the run goes on.
        """
        state = self.journal.replay()
        total = len(self.runbook.steps)
        index_of = {step.id: index for index, step in enumerate(self.runbook.steps, 1)}
        settled: dict[str, str] = {}  # step id -> done | failed | reported | abandoned
        for step in self.runbook.steps:
            done = state.steps[step.id]
            if done.status in ("ok", "skipped"):
                self.ctx.results[step.id] = done.outputs
                title = substitute(step.title, self.ctx.params)
                self._emit(
                    "step-done-earlier",
                    {
                        "step": step.id,
                        "index": index_of[step.id],
                        "total": total,
                        "title": title,
                        "status": done.status,
                    },
                )
                settled[step.id] = "done"
        failed: tuple[str, str] | None = None
        reported: list[dict[str, str]] = []
        finished: queue.Queue[tuple[str, str | None, BaseException | None]] = queue.Queue()
        running: set[str] = set()
        while True:
            ready = []
            for step in self.runbook.steps:
                if step.id in settled or step.id in running:
                    continue
                if failed is not None and not step.always:
                    settled[step.id] = "abandoned"
                elif failed is None and all(
                    settled.get(n) in ("done", "reported") for n in self.runbook.needs_of(step)
                ):
                    ready.append(step)
                elif failed is not None and not running and not ready:
                    ready.append(step)  # clean-up after a failure: one at a time, in order
            if not ready and not running:
                break
            if len(ready) == 1 and not running:
                step = ready[0]  # alone: in this thread, so Ctrl-C reaches the action as before
                outcome = self._run_step(step, index_of[step.id], total, self._context_for(step))
                finished.put((step.id, outcome, None))
                running.add(step.id)
            else:
                for step in ready:
                    running.add(step.id)
                    self._start_thread(step, index_of[step.id], total, finished)
            step_id, error, crash = finished.get()
            running.discard(step_id)
            if crash is not None:
                raise crash
            step = self.runbook.step(step_id)
            if error is None:
                settled[step_id] = "done"
            elif step.on_failure == "report":
                settled[step_id] = "reported"
                reported.append({"step": step_id, "error": error})
                self._emit("step-reported", {"step": step_id, "error": redact(error)})
            else:
                settled[step_id] = "failed"
                failed = failed or (step_id, error)
        if failed is not None:
            if on_failure == "rollback":
                self.rollback()
            state = self.journal.replay()
            status = "rolled-back" if on_failure == "rollback" and self._all_rolled_back(state) else "failed"
            self.journal.write("run-end", status=status, failed_step=failed[0], error=failed[1])
            raise StepFailed(failed[0], failed[1], self.journal.run_id)
        self.journal.write("run-end", status="ok", **({"reported_failures": reported} if reported else {}))
        return self.journal.replay()

    def _context_for(self, step: Step) -> StepContext:
        """The step's own view of the run (its id for logs and marks); results are shared."""
        return dataclasses.replace(self.ctx, step_id=step.id)

    def _start_thread(
        self,
        step: Step,
        index: int,
        total: int,
        finished: queue.Queue[tuple[str, str | None, BaseException | None]],
    ) -> None:
        ctx = self._context_for(step)

        def work() -> None:
            try:
                finished.put((step.id, self._run_step(step, index, total, ctx), None))
            except BaseException as exc:  # handed to the main thread, which raises it as before
                finished.put((step.id, None, exc))

        # A daemon: an interrupted run (Ctrl-C reaches the main thread) does not wait for it;
        # what it was doing stays "running" in the journal and is repeated on resume.
        threading.Thread(target=work, name=f"step-{step.id}", daemon=True).start()

    def _run_step(self, step: Step, index: int, total: int, ctx: StepContext) -> str | None:
        journal = self.journal
        self.ctx.step_id = step.id
        info = {"step": step.id, "index": index, "total": total, "title": substitute(step.title, ctx.params)}
        _crash_point(f"before:{step.id}")
        if step.precondition is not None:
            # An unknown precondition is a broken runbook, never a reason to skip the step.
            check = registry.lookup(step.precondition.do)
            try:
                holds, detail = _verdict(check(ctx, **step.precondition.arguments(ctx.params)))
            except MigrateError as exc:
                holds, detail = False, str(exc)
            if not holds:
                if step.when_precondition_fails == "skip":
                    journal.write("step-skipped", step=step.id, detail=f"precondition not met: {detail}")
                    ctx.results[step.id] = {}
                    self._emit("step-skipped", {**info, "detail": detail})
                    return None
                message = f"precondition {step.precondition.do} not met: {detail}"
                journal.write("step-end", step=step.id, status="failed", error=message, outputs={})
                self._emit("step-failed", {**info, "error": redact(message)})
                return message
        self._emit("step-start", info)
        started = time.monotonic()
        journal.write("step-start", step=step.id, action=step.action.describe(ctx.params))
        _crash_point(f"start:{step.id}")
        try:
            outputs = self._act(step, ctx)
            if step.check is not None:
                ok, detail = _verdict(_call(step.check, ctx))
                if not ok:
                    raise CheckFailed(f"check {step.check.do} failed: {detail or 'no detail'}")
        except Exception as exc:  # a step's failure, journaled; never the run's crash
            message = _failure_text(exc)
            journal.write(
                "step-end",
                step=step.id,
                status="failed",
                error=message,
                outputs={},
                seconds=round(time.monotonic() - started, 3),
            )
            self._emit("step-failed", {**info, "error": redact(message)})
            return message
        except KeyboardInterrupt:
            journal.write("log", step=step.id, message="interrupted (Ctrl-C); resume with --resume")
            raise
        outputs = outputs if isinstance(outputs, dict) else ({} if outputs is None else {"result": outputs})
        seconds = round(time.monotonic() - started, 3)
        record = journal.write("step-end", step=step.id, status="ok", outputs=outputs, seconds=seconds)
        ctx.results[step.id] = record["outputs"]
        self._emit("step-ok", {**info, "seconds": seconds, "outputs": record["outputs"]})
        _crash_point(f"after:{step.id}")
        return None

    def _act(self, step: Step, ctx: StepContext) -> Any:
        attempt = 0
        while True:
            try:
                return _call(step.action, ctx)
            except (MigrateError, OSError, TimeoutError) as exc:
                if attempt >= step.retries:
                    raise
                attempt += 1
                ctx.log(f"attempt {attempt} failed: {exc}; retrying in {step.retry_delay:g}s")
                time.sleep(step.retry_delay)

    def rollback(self) -> list[str]:
        """Undo, newest first, every step that started and has a rollback action."""
        state = self.journal.replay()
        undone: list[str] = []
        for step in reversed(self.runbook.steps):
            done = state.steps[step.id]
            if not done.ran or done.status in ("rolled-back", "skipped", "pending"):
                continue
            if step.rollback is None:
                self.journal.write("rollback-none", step=step.id)
                continue
            self.ctx.step_id = step.id
            self.ctx.results.setdefault(step.id, done.outputs)
            self._emit("rollback-start", {"step": step.id, "title": substitute(step.title, self.ctx.params)})
            self.journal.write("rollback-start", step=step.id, action=step.rollback.describe(self.ctx.params))
            started = time.monotonic()
            try:
                _call(step.rollback, self.ctx)
            except Exception as exc:  # recorded; the other rollbacks still run
                error = _failure_text(exc)
                self.journal.write(
                    "rollback-end", step=step.id, ok=False, error=error, seconds=round(time.monotonic() - started, 3)
                )
                self._emit("rollback-failed", {"step": step.id, "error": redact(error)})
                continue
            self.journal.write("rollback-end", step=step.id, ok=True, seconds=round(time.monotonic() - started, 3))
            self._emit("rollback-ok", {"step": step.id})
            undone.append(step.id)
        return undone

    def _all_rolled_back(self, state: RunState) -> bool:
        return not any(s.status == "rollback-failed" for s in state.steps.values())


def _failure_text(exc: Exception) -> str:
    """A step's error line: ours as written; anything else (a library's error, a bug) named by
    its type, so the journal says it was unexpected while the run still rolls back."""
    if isinstance(exc, MigrateError | OSError | TimeoutError):
        return str(exc) or type(exc).__name__
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"internal error: {type(exc).__name__}: {first}".rstrip(": ")
