"""The run journal: every step, before and after it runs, in durable JSON lines.

``$MIGRATE_HOME/journal/runs/<run-id>.jsonl`` (``MIGRATE_HOME`` defaults to ``.migrate`` in
the working directory). Each line is written, flushed and fsync'd before the engine goes
on, so a run killed at any instant (Ctrl-C, kill -9, a dropped SSH session) leaves a journal
that says exactly which steps finished, with their outputs, and which one was under way.
A torn last line (killed mid-write) is ignored on reading. Every line passes through
``redact``: secret values never reach the disk. The first line holds the runbook itself, so
a resumed run follows the plan it started with even if the file in ``runbooks/`` changed.
The mechanism (append, fsync, torn tail, lock) is ``migrate.durable_log``.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from migrate.durable_log import DurableLog
from migrate.errors import InputError, MigrateError
from migrate.home import migrate_home


def runs_dir(home: Path | None = None) -> Path:
    return (home or migrate_home()) / "journal" / "runs"


def new_run_id(runbook: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{runbook}-{stamp}-{secrets.token_hex(3)}"


@dataclass
class StepState:
    id: str
    status: str = "pending"  # pending | running | ok | failed | skipped | rolled-back | rollback-failed
    attempts: int = 0
    started: float | None = None
    ended: float | None = None
    outputs: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    detail: str | None = None
    rollback_error: str | None = None

    @property
    def ran(self) -> bool:
        """The action started at least once: it may have changed something."""
        return self.attempts > 0

    @property
    def duration(self) -> float | None:
        if self.started is None or self.ended is None:
            return None
        return self.ended - self.started


@dataclass
class RunState:
    """A run as replayed from its journal."""

    run_id: str
    runbook: dict[str, Any]
    params: dict[str, Any]
    started: float
    steps: dict[str, StepState]
    status: str = "running"  # running | ok | failed | rolled-back | interrupted
    ended: float | None = None
    failed_step: str | None = None
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.status in ("ok", "rolled-back")


class RunJournal:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.run_id = path.stem
        self._log = DurableLog(path)
        self._writing = threading.Lock()  # steps running at the same time share the journal

    # -- creating and finding runs -------------------------------------------------------------
    @classmethod
    def create(
        cls, runbook: dict[str, Any], params: dict[str, Any], home: Path | None = None, **meta: Any
    ) -> RunJournal:
        directory = runs_dir(home)
        journal = cls(directory / f"{new_run_id(runbook['name'])}.jsonl")
        journal.lock()
        journal.write("run-start", runbook=runbook, params=params, **meta)
        return journal

    @classmethod
    def open(cls, run_id: str, home: Path | None = None) -> RunJournal:
        path = runs_dir(home) / f"{run_id.removesuffix('.jsonl')}.jsonl"
        if not path.is_file():
            raise InputError(f"no journal for run {run_id!r} under {runs_dir(home)}")
        return cls(path)

    @classmethod
    def latest(
        cls, runbook: str | None = None, *, unfinished: bool = True, home: Path | None = None
    ) -> RunJournal | None:
        """The most recent run (of ``runbook``), by default the latest that did not finish."""
        directory = runs_dir(home)
        candidates = sorted(directory.glob("*.jsonl"), key=lambda p: p.stat().st_mtime, reverse=True)
        for path in candidates:
            journal = cls(path)
            try:
                state = journal.replay()
            except MigrateError:
                continue
            if runbook and state.runbook.get("name") != runbook:
                continue
            if unfinished and state.finished:
                continue
            return journal
        return None

    # -- writing -------------------------------------------------------------------------------
    def lock(self) -> None:
        """One process per run: a second ``--resume`` of a live run is refused."""
        self._log.lock(f"run {self.run_id}")

    def write(self, event: str, **data: Any) -> dict[str, Any]:
        """Append one record, durable (fsync'd, secrets masked) before the engine goes on."""
        with self._writing:
            return self._log.append({"event": event, "at": time.time(), **data})[0]

    def close(self) -> None:
        self._log.close()

    # -- reading -------------------------------------------------------------------------------
    def entries(self) -> list[dict[str, Any]]:
        return self._log.records()

    def replay(self) -> RunState:
        entries = self.entries()
        if not entries or entries[0].get("event") != "run-start":
            raise MigrateError(f"{self.path}: not a run journal (no run-start record)")
        head = entries[0]
        runbook = head["runbook"]
        steps = {s["id"]: StepState(s["id"]) for s in runbook["steps"]}
        state = RunState(self.run_id, runbook, head.get("params", {}), head["at"], steps, events=entries)
        for entry in entries[1:]:
            event, step = entry["event"], steps.get(entry.get("step", ""))
            if event == "step-start" and step:
                step.status, step.attempts = "running", step.attempts + 1
                step.started = step.started or entry["at"]
                step.error = None
            elif event == "step-end" and step:
                step.status, step.ended = entry["status"], entry["at"]
                step.outputs = entry.get("outputs") or {}
                step.error, step.detail = entry.get("error"), entry.get("detail")
            elif event == "step-skipped" and step:
                step.status, step.detail = "skipped", entry.get("detail")
                step.started = step.ended = entry["at"]
            elif event == "rollback-end" and step:
                if entry.get("ok"):
                    step.status = "rolled-back"
                else:
                    step.status, step.rollback_error = "rollback-failed", entry.get("error")
            elif event == "run-end":
                state.status, state.ended = entry["status"], entry["at"]
                state.failed_step = entry.get("failed_step")
            elif event == "run-resume":
                state.status, state.ended = "running", None
        if state.status == "running" and entries[-1]["event"] != "run-end":
            state.status = "interrupted"
        return state
