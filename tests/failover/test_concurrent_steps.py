"""The runbook engine's schedule: steps run once what they ``needs`` is done, at the same time
when nothing orders them; a step with ``on_failure: report`` fails without failing the run.

Through the real CLI with stand-in actions doing real file work; the two halves only pass if
each sees the other's mark, so they cannot pass when run one after the other.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from migrate.errors import InputError
from migrate.runbook.journal import RunJournal
from migrate.runbook.model import parse_runbook
from tests.failover.runbook_cli import run_runbook

RUNBOOK = str(Path(__file__).parent / "runbooks" / "concurrent.yaml")


def _run(work: Path, *args: str, **env: str):
    return run_runbook(RUNBOOK, work, *args, timeout=90, **env)


def _entries(work: Path) -> list[dict]:
    (journal,) = (work / "home" / "journal" / "runs").glob("*.jsonl")
    return RunJournal(journal).entries()


def _at(entries: list[dict], event: str, step: str) -> float:
    return max(float(e["at"]) for e in entries if e["event"] == event and e.get("step") == step)


def test_independent_steps_run_together_and_a_reported_failure_does_not_fail_the_run(tmp_path: Path) -> None:
    result = _run(tmp_path, "--json")
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert report["status"] == "ok"
    status = {s["id"]: s["status"] for s in report["steps"]}
    assert status == {
        "provision": "ok",
        "left": "ok",
        "right": "ok",
        "swing": "ok",
        "converge": "failed",
        "last": "ok",
    }
    entries = _entries(tmp_path)
    (end,) = [e for e in entries if e["event"] == "run-end"]
    assert end["reported_failures"] == [{"step": "converge", "error": "the engine is unhappy"}]
    # The order the needs ask for, read from the journal's timestamps.
    assert _at(entries, "step-end", "provision") <= _at(entries, "step-start", "left")
    assert max(_at(entries, "step-end", "left"), _at(entries, "step-end", "right")) <= _at(
        entries, "step-start", "swing"
    )
    assert _at(entries, "step-end", "converge") <= _at(entries, "step-start", "last")
    assert (tmp_path / "pointer").read_text() == "done"
    assert "FAILED (reported; the run goes on)" in result.stderr


def test_killed_while_two_steps_run_the_resume_repeats_both_and_nothing_finished(tmp_path: Path) -> None:
    killed = _run(tmp_path, "--json", MIGRATE_CRASH_AT="start:right")
    assert killed.returncode == -9
    entries = _entries(tmp_path)
    ended = {e["step"] for e in entries if e["event"] == "step-end"}
    assert "provision" in ended and "swing" not in ended
    resumed = _run(tmp_path, "--resume", "--json")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    calls = (tmp_path / "calls.log").read_text().split()
    assert calls.count("provision:b") == 1  # finished before the kill: not repeated
    assert calls.count("rendezvous:right") == 1  # killed once its start was journaled, before it acted
    entries = _entries(tmp_path)
    starts = [e["step"] for e in entries if e["event"] == "step-start"]
    assert starts.count("right") == 2 and starts.count("provision") == 1
    assert [e["step"] for e in entries if e["event"] == "step-end"].count("right") == 1
    assert json.loads(resumed.stdout)["status"] == "ok"


def test_a_step_can_only_need_an_earlier_step() -> None:
    document = {
        "name": "bad",
        "title": "bad",
        "steps": [
            {"id": "a", "title": "a", "action": "x.y", "needs": ["b"]},
            {"id": "b", "title": "b", "action": "x.y"},
        ],
    }
    with pytest.raises(InputError, match="needs 'b', which is not an earlier step"):
        parse_runbook(document, "bad.yaml")
