"""The report document: one JSON-able dict, built only from a run's journal.

Because it is built from the journal (already redacted), a report can be rebuilt at any
time, also for an interrupted or failed run, and can never hold more than the journal does.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from migrate.runbook.journal import RunJournal, RunState

FIGURE_STEP_KEY = "figures"  # a step that measures returns {"figures": {...}}


def iso(at: float | None) -> str | None:
    return None if at is None else datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds")


def build(journal: RunJournal, state: RunState | None = None) -> dict[str, Any]:
    state = state or journal.replay()
    from migrate.runbook.model import substitute

    titles = {s["id"]: substitute(s.get("title", s["id"]), state.params) for s in state.runbook["steps"]}
    steps = []
    figures: dict[str, Any] = {}
    for step_id, step in state.steps.items():
        steps.append(
            {
                "id": step_id,
                "title": titles[step_id],
                "status": step.status,
                "attempts": step.attempts,
                "started": iso(step.started),
                "ended": iso(step.ended),
                "offset_seconds": None if step.started is None else round(step.started - state.started, 3),
                "seconds": None if step.duration is None else round(step.duration, 3),
                "error": step.error,
                "detail": step.detail,
                "rollback_error": step.rollback_error,
                "outputs": step.outputs,
            }
        )
        if isinstance(step.outputs.get(FIGURE_STEP_KEY), dict):
            figures.update(step.outputs[FIGURE_STEP_KEY])
    rollbacks = [
        {"step": e["step"], "ok": e.get("ok"), "error": e.get("error"), "at": iso(e["at"])}
        for e in state.events
        if e["event"] == "rollback-end"
    ]
    marks = [
        {"label": e["label"], "offset_seconds": round(e["mark_at"] - state.started, 3), "at": iso(e["mark_at"])}
        for e in state.events
        if e["event"] == "mark"
    ]
    resumes = [iso(e["at"]) for e in state.events if e["event"] == "run-resume"]
    ended = state.ended or max((e["at"] for e in state.events), default=state.started)
    return {
        "run_id": state.run_id,
        "runbook": state.runbook["name"],
        "title": state.runbook.get("title", state.runbook["name"]),
        "params": state.params,
        "status": state.status,
        "ok": state.status == "ok",
        "failed_step": state.failed_step,
        "started": iso(state.started),
        "ended": iso(ended),
        "seconds": round(ended - state.started, 3),
        "resumed": resumes,
        "steps": steps,
        "marks": marks,
        "rollbacks": rollbacks,
        "figures": figures,
        "journal": str(journal.path),
    }
