"""The runbook engine through the real CLI: kill -9 at every step boundary, resume, roll back.

The actions are stand-ins doing real file work (tests/failover/stand_in_actions.py); the
engine, journal, resume and rollback are the product's.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from tests.failover.runbook_cli import run_runbook

RUNBOOK = str(Path(__file__).parent / "runbooks" / "mini.yaml")
STEPS = ["provision", "restore", "swing", "verify"]


@pytest.fixture
def work(tmp_path: Path) -> Path:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "data.bin").write_bytes(os.urandom(256 * 1024))
    return tmp_path


def _run(work: Path, *args: str, **env: str):
    return run_runbook(RUNBOOK, work, *args, timeout=60, **env)


def _journal(work: Path) -> Path:
    (journal,) = (work / "home" / "journal" / "runs").glob("*.jsonl")
    return journal


def _calls(work: Path) -> list[str]:
    return (work / "calls.log").read_text().split()


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("boundary", [f"{when}:{step}" for step in STEPS for when in ("before", "start", "after")])
def test_killed_at_any_boundary_resumes_to_completion(work: Path, boundary: str) -> None:
    killed = _run(work, MIGRATE_CRASH_AT=boundary)
    assert killed.returncode == -9, killed.stderr
    run_id = _journal(work).stem
    resumed = _run(work, "--resume", "--run", run_id)
    assert resumed.returncode == 0, resumed.stderr
    assert "not repeated" in resumed.stderr or boundary.startswith(("before:provision", "start:provision"))
    assert _sha(work / "b" / "data.bin") == _sha(work / "a" / "data.bin")
    assert (work / "pointer").read_text() == "b"
    calls = _calls(work)
    # Finished work is not redone; a step killed after "step-start" (before its action did
    # anything) runs once, on resume.
    for call in ("provision:b", "copy", "point:b"):
        assert calls.count(call) == 1, (boundary, calls)
    events = [json.loads(line) for line in _journal(work).read_text().splitlines()]
    assert events[-1]["event"] == "run-end" and events[-1]["status"] == "ok"
    report = json.loads(next((work / "reports").glob("*/report.json")).read_text())
    assert report["ok"] and report["resumed"]


def test_failure_names_the_step_and_resume_finishes_the_job(work: Path) -> None:
    (work / "fail-copy").touch()
    failed = _run(work)
    assert failed.returncode == 1
    assert "step 'restore' failed: target b vanished while data was restoring" in failed.stderr
    assert "Traceback" not in failed.stderr
    entries = [json.loads(line) for line in _journal(work).read_text().splitlines()]
    ends = {e["step"]: e["status"] for e in entries if e["event"] == "step-end"}
    assert ends == {"provision": "ok", "restore": "failed"}
    (work / "fail-copy").unlink()
    resumed = _run(work, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert _calls(work).count("provision:b") == 1
    assert _sha(work / "b" / "data.bin") == _sha(work / "a" / "data.bin")


def test_rollback_undoes_only_the_steps_that_ran(work: Path) -> None:
    (work / "fail-copy").touch()
    failed = _run(work, "--on-failure", "rollback")
    assert failed.returncode == 1
    calls = _calls(work)
    assert "destroy:b" in calls  # provision ran: undone by its own rollback action
    assert "unpoint:b" not in calls  # swing never ran: not touched
    assert not (work / "b").exists()
    report = json.loads(next((work / "reports").glob("*/report.json")).read_text())
    assert report["status"] == "rolled-back"
    assert [r["step"] for r in report["rollbacks"]] == ["provision"]
    junit = next((work / "reports").glob("*/junit.xml")).read_text()
    assert 'failures="1"' in junit and "vanished while data was restoring" in junit


def test_precondition_failure_stops_before_the_action(work: Path) -> None:
    (work / "a" / "data.bin").unlink()
    (work / "a" / "x").touch()
    failed = _run(work)
    assert failed.returncode == 1
    assert "precondition test.exists not met" in failed.stderr
    assert "copy" not in _calls(work)


def test_torn_journal_line_is_ignored_on_resume(work: Path) -> None:
    killed = _run(work, MIGRATE_CRASH_AT="after:restore")
    assert killed.returncode == -9
    journal = _journal(work)
    with open(journal, "a") as handle:
        handle.write('{"event": "step-start", "step": "sw')  # killed mid-write
    resumed = _run(work, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    for line in journal.read_text().splitlines()[:-1]:
        if line.startswith('{"event": "step-start", "step": "sw') and not line.endswith("}"):
            continue
        json.loads(line)


SECRET = "pl4nted-Sup3r-s3cret-value"


def test_planted_secret_appears_in_no_output_journal_or_report(work: Path) -> None:
    runbook = work / "leaky.yaml"
    runbook.write_text(
        "name: leaky\ntitle: leaks\nimports: [tests.failover.stand_in_actions]\n"
        "params: {workdir: {required: true}}\n"
        "steps:\n  - id: leak\n    title: Leak\n    action: {do: test.leak, with: {env: PLANTED}}\n"
    )
    result = run_runbook(str(runbook), work, "--json", PLANTED=SECRET)
    assert result.returncode == 0, result.stderr
    written = [p.read_text() for p in (work / "home").rglob("*") if p.is_file()]
    written += [p.read_text() for p in (work / "reports").rglob("*") if p.is_file()]
    assert any("[secret]" in text for text in written)
    for text in [result.stderr, *written]:
        assert SECRET not in text
