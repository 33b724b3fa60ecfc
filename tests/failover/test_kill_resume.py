"""The real failover, SIGKILLed at every step boundary and resumed each time, completes and the
data verifies.

Real parts: the runbook in runbooks/failover.yaml, the sandbox targets deployed by the Pulumi
engine, their Postgres and S3 (versitygw) servers, the BIND and Knot sandbox nameservers. A is
terminated first (``chaos terminate``), so every step does real work: holding page on A's
address, B provisioned, the backup restored onto B, smoke checks, DNS swing, verification at
every nameserver, holding page down.

One run, chained to stay cheap: the ``migrate failover`` process is killed with SIGKILL at the
first boundary (MIGRATE_FAULT_AT, the fault command kills ``$PPID``: the engine runs it through
``sh -c`` from the migrate process), ``migrate failover --resume`` is killed at the next one, and
so on through every boundary; twice more mid-step, while B's Pulumi update runs (it must go on
to its end, not be cut: it runs in a session of its own) and while pg_restore writes into B;
then a last ``--resume`` finishes. Between kills: nothing a killed process started in its own
session (pg_restore, ...) is left running, the run's lock is free, the journal only grew.
At the end: DNS serves B at every nameserver, B's rows and media equal what A had, no finished
step was ever started again, and no stack lock or update process is left.
"""

from __future__ import annotations

import fcntl
import hashlib
import itertools
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from migrate.runbook.journal import RunJournal
from migrate.runbook.model import load_runbook
from tests.failover.faults import stat_of
from tests.failover.private_sandbox import PrivateSandbox, ok, private_sandbox, processes_mentioning
from tests.failover.test_faults import _served

pytestmark = pytest.mark.slow
BALLAST_ROWS = 8_000  # ~8 MB: pg_restore runs long enough to be killed in the middle
MEDIA_OBJECTS = 24
STEPS = [step.id for step in load_runbook("failover").steps]
# B is not deployed: cold path, provisioned before the swing, no converge after; chirp marks no
# process restart_after_promotion, so no restart either.
SKIPPED = {"converge", "restart"}
# Not boundaries: killed mid-step, while B's Pulumi update runs and while pg_restore writes into B.
MID_PROVISION, MID_RESTORE = "during:provision", "during:data"


def _outputs(sb: PrivateSandbox, target: str) -> Any:
    from migrate.engine.stack_outputs import load_outputs
    from migrate.spec.loader import load_spec

    with pytest.MonkeyPatch.context() as patch:
        for key, value in sb.env.items():
            patch.setenv(key, value)
        return load_outputs(load_spec(sb.spec), target)


def _s3(outputs: Any) -> tuple[Any, str]:
    from migrate.data.endpoints import s3_endpoint

    return s3_endpoint(outputs).client(), outputs.s3_buckets.get("chirp-media", "chirp-media")


def _seed(outputs: Any) -> None:
    import psycopg

    with psycopg.connect(outputs.database_url.get_secret_value(), autocommit=True) as conn:
        conn.execute("CREATE TABLE kill_ballast (id bigint PRIMARY KEY, body text NOT NULL)")
        conn.execute(
            "INSERT INTO kill_ballast SELECT g, repeat(md5(g::text), 32) FROM generate_series(1, %s) g", (BALLAST_ROWS,)
        )
    client, bucket = _s3(outputs)
    for index in range(MEDIA_OBJECTS):
        client.put_object(Bucket=bucket, Key=f"img/{index:03d}.bin", Body=os.urandom(1000 + 997 * index))


def _fingerprint(outputs: Any) -> dict[str, Any]:
    """Every public table's row count and content hash; every media object's MD5."""
    import psycopg
    from psycopg import sql

    tables: dict[str, tuple[int, str]] = {}
    with psycopg.connect(outputs.database_url.get_secret_value()) as conn:
        names = [
            row[0]
            for row in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' "
                "AND table_type = 'BASE TABLE' ORDER BY 1"
            ).fetchall()
        ]
        for name in names:
            query = sql.SQL(
                "SELECT count(*), coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') FROM {} t"
            ).format(sql.Identifier(name))
            row = conn.execute(query).fetchone()
            assert row is not None
            tables[name] = (int(row[0]), str(row[1]))
    client, bucket = _s3(outputs)
    media = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            body = client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            media[item["Key"]] = hashlib.md5(body).hexdigest()
    return {"tables": tables, "media": media}


@pytest.fixture(scope="module")
def a_gone() -> Iterator[tuple[PrivateSandbox, dict[str, Any]]]:
    """A deployed, seeded, backed up, fingerprinted, then terminated; B not deployed yet."""
    sb = private_sandbox("migrate-kill-")
    try:
        ok(sb.cli("up", "--to", "local-a", "--json"))
        ok(sb.cli("dns", "sandbox", "up", "--json"))
        ok(sb.cli("dns", "swing", "--to", "local-a", "--json"))
        a = _outputs(sb, "local-a")
        _seed(a)
        ok(sb.cli("data", "backup", "--from", "local-a", "--to", str(sb.base / "backup"), "--json"))
        before = _fingerprint(a)
        assert before["tables"]["kill_ballast"][0] == BALLAST_ROWS and len(before["media"]) == MEDIA_OBJECTS
        ok(sb.cli("chaos", "terminate", "--target", "local-a", "--json"))
        yield sb, before
        sb.tear_down_pair()
    finally:
        sb.clean_up()


def _boundaries() -> list[str]:
    """Every distinct point between steps: before the first one, and for each step once its start
    is journaled (action not begun: it must run on resume) and once its end is journaled (it must
    not run again). "before:S" of a later step leaves the same journal as "after:" of the one
    before it; it is covered where a step has a precondition (checked after "before:"). A step
    this scenario skips (``converge``: B is not current, it is provisioned first) has only its
    "before:" point."""
    runbook = load_runbook("failover")
    points = [f"before:{STEPS[0]}"]
    for step in runbook.steps:
        if step.precondition is not None and step.id != STEPS[0]:
            points.append(f"before:{step.id}")
        if step.id in SKIPPED:
            continue
        points += [f"start:{step.id}", f"after:{step.id}"]
        if f"during:{step.id}" in (MID_PROVISION, MID_RESTORE):
            points.insert(-1, f"during:{step.id}")
    return points


def _beside(step: str) -> set[str]:
    """The steps that may run at the same time as ``step``: neither what it needs nor what needs it."""
    runbook = load_runbook("failover")
    before: dict[str, set[str]] = {}
    for s in runbook.steps:
        needs = runbook.needs_of(s)
        before[s.id] = set(needs).union(*(before[n] for n in needs))
    return {other for other in STEPS if other != step and other not in before[step] and step not in before[other]}


def _passed(entries: list[dict[str, Any]], point: str) -> bool:
    """Steps run at the same time when they do not need each other: a step beside the one killed
    may have got past its own points already (then they cannot be reached any more)."""
    when, step = point.split(":")
    ended = any(e["event"] in ("step-end", "step-skipped") and e.get("step") == step for e in entries)
    started = any(e["event"] == "step-start" and e.get("step") == step for e in entries)
    return ended or (when == "before" and started)


def _fault(sb: PrivateSandbox, point: str, record: Path) -> dict[str, str]:
    python = sys.executable
    if point in (MID_PROVISION, MID_RESTORE):  # in the background: the engine goes on into the action
        fault = "kill-migrate-while-provisioning" if point == MID_PROVISION else "kill-migrate-while-restoring"
        return {
            "MIGRATE_FAULT_AT": point.replace("during:", "start:"),
            "MIGRATE_FAULT_RUN": f"{python} -m tests.failover.faults {fault} $PPID {sb.b} {record} >/dev/null 2>&1 &",
        }
    return {
        "MIGRATE_FAULT_AT": point,
        "MIGRATE_FAULT_RUN": f"{python} -m tests.failover.faults kill-migrate $PPID {record}",
    }


def _journals(sb: PrivateSandbox) -> list[Path]:
    return sorted((sb.home / "journal" / "runs").glob("*.jsonl"))


def _still_running(helpers: list[dict[str, Any]], wait: float = 5.0) -> list[str]:
    """The killed process's session helpers that are still alive (same pid and start time)."""
    deadline = time.monotonic() + wait
    while True:
        alive = [
            str(h["argv"])[:160]
            for h in helpers
            if (found := stat_of(int(h["pid"]))) is not None and found[2] == h["start"] and found[3] != "Z"
        ]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.1)


def _update_not_cut(sb: PrivateSandbox) -> bool:
    """B's update, started by the killed failover in a session of its own, runs on (or is done)."""
    state = sb.home / "updates" / "chirp-local-b.json"
    if not state.exists():
        return False
    recorded = json.loads(state.read_text())
    found = stat_of(int(recorded["pid"]))
    if found is not None and found[2] == recorded["start"] and found[3] != "Z":
        return True
    return '"ok": true' in (sb.home / "updates" / "chirp-local-b.log").read_text().splitlines()[-1]


def _update_log(sb: PrivateSandbox) -> str:
    log = sb.home / "updates" / "chirp-local-b.log"
    return log.read_text(errors="replace")[-3000:] if log.exists() else "(none)"


def _lock_is_free(journal: Path) -> bool:
    with open(journal.with_suffix(".lock"), "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(handle, fcntl.LOCK_UN)
        return True


def _expect_state(entries: list[dict[str, Any]], point: str) -> None:
    """The durable journal says exactly how far the killed run got: the step at the kill point is
    where the point says, every step that ended had what it needs ended before it started, and
    nothing failed or ended the run."""
    runbook = load_runbook("failover")
    when, step = point.split(":")
    failed = [(e["step"], e.get("error")) for e in entries if e["event"] == "step-end" and e.get("status") != "ok"]
    assert failed == [], (point, failed)
    ended_at = {e["step"]: float(e["at"]) for e in entries if e["event"] in ("step-end", "step-skipped")}
    first_start: dict[str, float] = {}
    for e in entries:
        if e["event"] == "step-start":
            first_start.setdefault(e["step"], float(e["at"]))
    if when == "after":
        assert step in ended_at, point
    else:
        assert step not in ended_at, (point, sorted(ended_at))
    if when in ("start", "during"):
        own = [e["event"] for e in entries if e.get("step") == step and e["event"].startswith("step-")]
        assert own[-1] == "step-start", point
    for done, at in ended_at.items():
        needs = runbook.needs_of(runbook.step(done))
        begun = first_start.get(done, at)
        assert all(n in ended_at and ended_at[n] <= begun for n in needs), (point, done, needs, sorted(ended_at))
    assert entries[-1]["event"] != "run-end", point


def test_killed_at_every_step_boundary_the_failover_resumes_to_completion(
    a_gone: tuple[PrivateSandbox, dict[str, Any]],
) -> None:
    sb, before = a_gone
    points = _boundaries()
    seen: list[dict[str, Any]] = []  # the journal as each killed process left it
    fired: list[str] = []
    for number, point in enumerate(points):
        if seen and _passed(seen, point):
            continue
        fired.append(point)
        record = sb.base / f"killed-{number}.json"
        args = (
            ("--resume",) if number else ("--from", "local-a", "--to", "local-b", "--backup", str(sb.base / "backup"))
        )
        killed = sb.cli("failover", *args, "--json", env=_fault(sb, point, record))
        assert killed.returncode == -9, f"{point}: exit {killed.returncode}\n{killed.stderr[-3000:]}"
        assert killed.stdout == "", point  # killed before any report
        assert record.exists(), f"{point}: the fault did not fire"
        (journal,) = _journals(sb)  # every resume continued the one run
        assert _lock_is_free(journal), f"{point}: the killed run's lock is still held"
        helpers = json.loads(record.read_text())["helpers"]
        assert _still_running(helpers) == [], f"{point}: orphans of the killed migrate still run"
        if point == MID_RESTORE:
            assert any("pg_restore" in h["argv"] for h in helpers)
        if point == MID_PROVISION:
            assert _update_not_cut(sb), f"killing the failover cut B's Pulumi update; its log:\n{_update_log(sb)}"
        entries = RunJournal(journal).entries()
        assert entries[: len(seen)] == seen, f"{point}: the journal lost or changed entries"
        _expect_state(entries, point)
        seen = entries

    finished = sb.cli("failover", "--resume", "--json")
    report = ok(finished)
    (journal,) = _journals(sb)
    assert report["status"] == "ok" and report["run_id"] == journal.stem and report["resumed"]
    entries = RunJournal(journal).entries()
    assert entries[: len(seen)] == seen
    assert [e["event"] for e in entries].count("run-resume") == len(fired)
    # Only points of steps running beside another one can have been passed before their turn.
    alone = {step for step in STEPS if not _beside(step)}
    assert not [p for p in points if p not in fired and p.split(":")[1] in alone], (points, fired)

    # No finished step was redone: each ended once, ok (or was skipped as planned), and never
    # started again after that; a step started again was cut short by a kill (a resume between).
    ends = Counter(e["step"] for e in entries if e["event"] == "step-end")
    skipped = {e["step"] for e in entries if e["event"] == "step-skipped"}
    assert skipped == SKIPPED, [
        (e["event"], e.get("step"), e.get("detail") or e.get("outputs") or e.get("message"))
        for e in entries
        if e.get("step") in ("standby", "provision") or e["event"] == "run-resume"
    ]
    assert ends == Counter(set(STEPS) - SKIPPED) and all(
        e["status"] == "ok" for e in entries if e["event"] == "step-end"
    )
    for step in set(STEPS) - SKIPPED:
        events = [e["event"] for e in entries if e.get("step") == step and e["event"].startswith("step-")]
        assert events[-1] == "step-end" and "step-end" not in events[:-1], (step, events)
        kinds = [
            e["event"] for e in entries if (e.get("step") == step and e["event"] != "log") or e["event"] == "run-resume"
        ]
        for earlier, later in itertools.pairwise(kinds):
            assert not (earlier == "step-start" and later == "step-start"), (step, kinds)  # a resume in between
    assert "not repeated" in finished.stderr

    # The service really moved: every nameserver answers with B; B serves; the page is down.
    by_id = {s["id"]: s for s in report["steps"]}
    assert by_id["holding-page"]["status"] == by_id["holding-page-down"]["status"] == "ok"
    bind_ns, knot_ns = sb.nameservers
    for name in ("chirp.test.", "www.chirp.test."):
        assert _served(bind_ns, name) == _served(knot_ns, name) == {sb.b}
    assert by_id["standby"]["outputs"]["current"] is False and by_id["provision"]["status"] == "ok"
    data = by_id["data"]["outputs"]
    assert data["route"] == "restore" and data["result"]["verify"]["ok"]

    # Nothing lost: B holds exactly A's rows and media objects.
    assert _fingerprint(_outputs(sb, "local-b")) == before
    # Nothing left behind: no stack lock, no update process.
    assert list((sb.home / "state" / ".pulumi" / "locks").rglob("*.json")) == []
    assert [p for p in processes_mentioning("migrate.engine.detached") if str(sb.spec) in p] == []
