"""The engine's events: collected (steps, failures) and shown as a rich progress display."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from migrate.redact import redact

if TYPE_CHECKING:
    from pulumi.automation import EngineEvent
    from rich.console import Console

OnEvent = Callable[["EngineEvent"], None]
HIDDEN_TYPES = ("pulumi:pulumi:Stack", "pulumi:providers:")
CHANGING_OPS = {"create", "update", "delete", "replace", "create-replacement", "delete-replaced"}
DONE_VERB = {
    "create": "created",
    "update": "updated",
    "delete": "deleted",
    "replace": "replaced",
    "create-replacement": "replaced",
    "delete-replaced": "removed old",
    "refresh": "refreshed",
    "read": "read",
    "same": "unchanged",
}


def resource_name(urn: str) -> str:
    return urn.rsplit("::", 1)[-1]


def resource_type(type_token: str) -> str:
    """``pulumi-python:dynamic/local:Postgres`` -> ``local:Postgres``."""
    return type_token.removeprefix("pulumi-python:dynamic/")


def _hidden(type_token: str) -> bool:
    return type_token.startswith(HIDDEN_TYPES)


@dataclass
class Step:
    op: str
    name: str
    type: str


@dataclass
class EventLog:
    """What one engine run did: its steps and its failures, with the reason of each."""

    steps: list[Step] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    _errors: dict[str, list[str]] = field(default_factory=dict)
    forward: OnEvent | None = None

    def __call__(self, event: EngineEvent) -> None:
        pre = event.resource_pre_event
        if pre is not None and not _hidden(pre.metadata.type):
            self.steps.append(
                Step(
                    str(pre.metadata.op.value if hasattr(pre.metadata.op, "value") else pre.metadata.op),
                    resource_name(pre.metadata.urn),
                    resource_type(pre.metadata.type),
                )
            )
        diagnostic = event.diagnostic_event
        if diagnostic is not None and diagnostic.severity == "error" and diagnostic.urn:
            self._errors.setdefault(diagnostic.urn, []).append(_reason(diagnostic.message))
        failed = event.res_op_failed_event
        if failed is not None:
            urn = failed.metadata.urn
            reasons = self._errors.get(urn) or ["failed"]
            self.failures.append(f"{resource_name(urn)} ({resource_type(failed.metadata.type)}) failed: {reasons[-1]}")
        if self.forward is not None:
            self.forward(event)

    def resource_failures(self) -> list[str]:
        """Failures from op-failed events, else from resource-scoped error diagnostics."""
        if self.failures:
            return self.failures
        return [f"{resource_name(urn)} failed: {reasons[-1]}" for urn, reasons in self._errors.items()]

    def changes(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for step in self.steps:
            counts[step.op] = counts.get(step.op, 0) + 1
        return counts


def _reason(message: str) -> str:
    """The useful line of a provider error (Python tracebacks end with the exception)."""
    text = redact(message.strip())
    text = text.replace("Exception calling application: ", "")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in reversed(lines):
        if not line.startswith(("Traceback", "File ", "During handling", "The above exception")):
            return line.removeprefix("error: ")
    return lines[-1] if lines else "failed"


class ProgressDisplay:
    """A live display on stderr: one line per changing resource, with counts and times."""

    def __init__(self, console: Console, title: str) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(bar_width=20),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self.overall = self.progress.add_task(title, total=0)
        self._tasks: dict[str, Any] = {}
        self._started: dict[str, float] = {}
        self._lock = threading.Lock()

    def __enter__(self) -> ProgressDisplay:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(*exc)  # type: ignore[arg-type]

    def __call__(self, event: EngineEvent) -> None:
        with self._lock:
            self._handle(event)

    def _handle(self, event: EngineEvent) -> None:
        pre = event.resource_pre_event
        if pre is not None:
            meta = pre.metadata
            op = str(getattr(meta.op, "value", meta.op))
            if _hidden(meta.type) or op not in CHANGING_OPS:
                return
            label = f"{op:<8} {resource_name(meta.urn)} [dim]({resource_type(meta.type)})[/dim]"
            key = f"{meta.urn}:{op}"
            self._tasks[key] = self.progress.add_task(label, total=1)
            self._started[key] = time.monotonic()
            total = self.progress.tasks[self.overall].total or 0
            self.progress.update(self.overall, total=total + 1)
            return
        done = event.res_outputs_event
        if done is not None:
            meta = done.metadata
            op = str(getattr(meta.op, "value", meta.op))
            self._finish(f"{meta.urn}:{op}", DONE_VERB.get(op, op), resource_name(meta.urn), resource_type(meta.type))
            return
        failed = event.res_op_failed_event
        if failed is not None:
            meta = failed.metadata
            op = str(getattr(meta.op, "value", meta.op))
            self._finish(f"{meta.urn}:{op}", "[red]FAILED[/red]", resource_name(meta.urn), resource_type(meta.type))

    def _finish(self, key: str, verb: str, name: str, type_name: str) -> None:
        task = self._tasks.pop(key, None)
        if task is None:
            return
        seconds = time.monotonic() - self._started.pop(key, time.monotonic())
        self.progress.update(
            task, completed=1, description=f"{verb:<8} {name} [dim]({type_name}, {seconds:.1f}s)[/dim]"
        )
        self.progress.advance(self.overall)
