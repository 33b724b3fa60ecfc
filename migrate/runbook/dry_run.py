"""A dry run: every step's arguments resolved as a real run resolves them, and each action's
describer asked what it would do. Nothing runs: no journal, no run directory, no engine.

A precondition's describer says ``{"holds": bool, "detail": str}`` when it can tell already
(``drill.mode_is``): a step whose precondition will not hold is shown as skipped (or as
failing), as the engine would treat it. One without a describer (it depends on what earlier
steps find) is named, and the step is described as if it holds. Later describers see the
plans of the steps before (``PlanContext.plans``): a data move after a replication step
knows the replica will be there.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from migrate.errors import InputError, MigrateError
from migrate.runbook import registry
from migrate.runbook.journal import RunJournal
from migrate.runbook.model import Call, Runbook, Step, substitute
from migrate.runbook.runner import StepContext


class _NoJournal(RunJournal):
    """A dry run's journal: there is none, and a describer that writes to it is refused."""

    def __init__(self) -> None:  # no file is opened or created
        self.path = Path(os.devnull)
        self.run_id = "dry-run"

    def write(self, event: str, **data: Any) -> dict[str, Any]:
        raise RuntimeError(f"a dry run writes no journal (a describer tried to write {event!r})")

    def entries(self) -> list[dict[str, Any]]:
        return []


@dataclass
class PlanContext(StepContext):
    """What a describer sees: the run's parameters, the spec, targets' outputs read so far and
    the plans of the steps before. Logging, marks and the run directory are refused."""

    journal: RunJournal = field(default_factory=_NoJournal)
    plans: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def run_dir(self) -> Path:
        raise RuntimeError("a dry run has no run directory: a describer writes no file")

    def log(self, message: str, **data: Any) -> None:
        raise RuntimeError(f"a dry run journals nothing (a describer tried to log {message!r})")

    def mark(self, label: str, at: float | None = None) -> float:
        raise RuntimeError(f"a dry run marks nothing (a describer tried to mark {label!r})")


def plan_steps(runbook: Runbook, ctx: PlanContext) -> list[dict[str, Any]]:
    """Per step: id, title, action, the arguments a real run would pass, and its plan."""
    registry.load_for(runbook.imports)
    return [_plan_step(step, dataclasses.replace(ctx, step_id=step.id)) for step in runbook.steps]


def _plan_step(step: Step, ctx: PlanContext) -> dict[str, Any]:
    arguments = _arguments(step, step.action, ctx)
    for call in (step.check, step.rollback):  # a run would fail on these too
        if call is not None:
            _arguments(step, call, ctx)
    planned: dict[str, Any] = {}
    precondition = None
    if step.precondition is not None:
        precondition = {"do": step.precondition.describe(ctx.params)}
        verdict = _described(step.precondition, _arguments(step, step.precondition, ctx), ctx)
        if "holds" in verdict:
            precondition.update(verdict)
            if not verdict["holds"]:
                outcome = "skipped" if step.when_precondition_fails == "skip" else "fails"
                planned = {outcome: f"precondition {step.precondition.do} not met: {verdict.get('detail', '')}"}
    if not planned:
        planned = _described(step.action, arguments, ctx)
    ctx.plans[step.id] = planned
    return {
        "id": step.id,
        "title": substitute(step.title, ctx.params),
        "action": step.action.do,
        "with": arguments,
        "precondition": precondition,
        "plan": planned,
    }


def _arguments(step: Step, call: Call, ctx: PlanContext) -> dict[str, Any]:
    """``call``'s arguments as the engine resolves them, refused if the callable cannot take them
    (a real run would fail at this step)."""
    arguments = call.arguments(ctx.params)
    try:
        inspect.signature(registry.lookup(call.do)).bind(ctx, **arguments)
    except TypeError as exc:
        raise InputError(f"step {step.id}: {call.do} cannot take {sorted(arguments)}: {exc}") from None
    return arguments


def _described(call: Call, arguments: dict[str, Any], ctx: PlanContext) -> dict[str, Any]:
    """What ``call``'s describer says, given its resolved ``arguments``; {} without one. One
    that cannot tell says why."""
    describe = registry.describer(call.do)
    if describe is None:
        return {}
    try:
        return dict(describe(ctx, **arguments))
    except MigrateError as exc:
        return {"cannot tell": str(exc)}
