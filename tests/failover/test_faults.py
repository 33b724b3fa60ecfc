"""Failover under faults, with real parts: a DNS server dies before the swing, and the target
is terminated while its data is restoring. One pair of deployed sandbox targets for the module.

Faults are timed with MIGRATE_FAULT_AT / MIGRATE_FAULT_RUN (the runbook engine runs the command
at that step boundary): SIGKILL the sandbox Knot server, or wait for pg_restore to write into
the target and ``chaos terminate`` it then.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from migrate.runbook.journal import RunJournal
from tests.failover.private_sandbox import PrivateSandbox, deployed_pair, ok

pytestmark = pytest.mark.slow
BALLAST_ROWS = 40_000  # ~40 MB: pg_restore runs long enough to be cut in the middle


def _served(address: str, name: str = "chirp.test.") -> set[str] | str:
    import dns.exception
    import dns.message
    import dns.query

    try:
        answer = dns.query.udp(dns.message.make_query(name, "A"), address, timeout=2)
    except (dns.exception.DNSException, OSError) as exc:
        return type(exc).__name__
    return {item.to_text() for rrset in answer.answer for item in rrset}


def _seed(sb: PrivateSandbox, target: str, rows: int) -> None:
    import psycopg

    from migrate.engine.stack_outputs import load_outputs
    from migrate.spec.loader import load_spec

    with pytest.MonkeyPatch.context() as patch:
        for key, value in sb.env.items():
            patch.setenv(key, value)
        outputs = load_outputs(load_spec(sb.spec), target)
    assert outputs.database_url is not None
    with psycopg.connect(outputs.database_url.get_secret_value(), autocommit=True) as conn:
        conn.execute("CREATE TABLE drill_ballast (id bigint PRIMARY KEY, body text NOT NULL)")
        conn.execute(
            "INSERT INTO drill_ballast SELECT g, repeat(md5(g::text), 32) FROM generate_series(1, %s) g", (rows,)
        )


def _rows(sb: PrivateSandbox, target: str) -> int:
    import psycopg

    from migrate.engine.stack_outputs import load_outputs
    from migrate.spec.loader import load_spec

    with pytest.MonkeyPatch.context() as patch:
        for key, value in sb.env.items():
            patch.setenv(key, value)
        outputs = load_outputs(load_spec(sb.spec), target)
    assert outputs.database_url is not None
    with psycopg.connect(outputs.database_url.get_secret_value()) as conn:
        row = conn.execute("SELECT count(*) FROM drill_ballast").fetchone()
    return int(row[0]) if row else 0


@pytest.fixture(scope="module")
def pair() -> Iterator[PrivateSandbox]:
    with deployed_pair("migrate-faults-") as sb:
        _seed(sb, "local-a", BALLAST_ROWS)
        ok(sb.cli("data", "backup", "--from", "local-a", "--to", str(sb.base / "backup"), "--json"))
        yield sb


def _journal(sb: PrivateSandbox, run_id: str) -> list[dict[str, Any]]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MIGRATE_HOME", sb.env["MIGRATE_HOME"])
        return RunJournal.open(run_id).entries()


def test_a_dns_server_down_at_the_swing_stops_clearly_and_resume_finishes(pair: PrivateSandbox) -> None:
    sb = pair
    bind_ns, knot_ns = sb.nameservers
    knot_dir = sb.home / "sandbox" / "dns" / "sandbox-knot"
    fault = {
        "MIGRATE_FAULT_AT": "before:dns-swing",
        "MIGRATE_FAULT_RUN": f"{sys.executable} -m tests.failover.faults kill-dns {knot_dir}",
    }
    failed = sb.cli("failover", "--from", "local-a", "--to", "local-b", "--json", env=fault)
    assert failed.returncode == 1, failed.stderr[-3000:]
    report = json.loads(failed.stdout)
    assert report["failed_step"] == "dns-swing"
    swing = next(s for s in report["steps"] if s["id"] == "dns-swing")
    assert swing["attempts"] == 1 and "retrying" in failed.stderr  # retried inside the step (retries: 3)
    error = failed.stderr.strip().splitlines()[-1]
    assert error.startswith("error: step 'dns-swing' failed") and "sandbox-knot cannot be read" in error
    assert "sandbox-bind points at local-a" in error and "--resume" in error and "Traceback" not in failed.stderr
    assert _served(bind_ns) == {sb.a}  # nothing changed silently: BIND still sends users to A
    assert next(s for s in report["steps"] if s["id"] == "data")["outputs"]["route"] == "sync"

    ok(sb.cli("dns", "sandbox", "up", "--json"))  # the DNS server is back
    resumed = ok(sb.cli("failover", "--resume", "--json"))
    assert resumed["status"] == "ok" and resumed["run_id"] == report["run_id"]
    assert _served(bind_ns) == _served(knot_ns) == {sb.b}
    assert _served(bind_ns, "www.chirp.test.") == _served(knot_ns, "www.chirp.test.") == {sb.b}
    verify = next(s for s in resumed["steps"] if s["id"] == "dns-verify")["outputs"]
    assert {s["server"] for s in verify["servers"] if s["ok"]} >= {bind_ns, knot_ns}


def test_the_target_terminated_while_restoring_fails_clearly_and_up_then_resume_finish(pair: PrivateSandbox) -> None:
    sb = pair  # B serves now (previous test); B dies, the service goes back to A from the backup
    ok(sb.cli("chaos", "terminate", "--target", "local-b", "--json"))
    fault = {
        "MIGRATE_FAULT_AT": "start:data",
        "MIGRATE_FAULT_RUN": f"{sys.executable} -m tests.failover.faults terminate-while-restoring "
        f"{sb.spec} local-a {sb.a} >/dev/null 2>&1 &",
    }
    failed = sb.cli(
        "failover", "--from", "local-b", "--to", "local-a", "--backup", str(sb.base / "backup"), "--json", env=fault
    )
    assert failed.returncode == 1, failed.stderr[-3000:]
    assert (sb.base / "terminated-while-restoring").exists(), "the fault did not fire during pg_restore"
    report = json.loads(failed.stdout)
    assert report["failed_step"] == "data"
    error = failed.stderr.strip().splitlines()[-1]
    assert error.startswith("error: step 'data' failed") and "Traceback" not in failed.stderr
    assert sb.a in error and "local-a itself is down" in error and "migrate up --to local-a" in error, error
    journal = _journal(sb, report["run_id"])
    data_events = [e for e in journal if e.get("step") == "data"]
    assert [e["event"] for e in data_events if e["event"].startswith("step-")] == ["step-start", "step-end"]
    assert data_events[-1]["status"] == "failed" and "restoring the latest backup" in json.dumps(journal)
    assert next(s for s in report["steps"] if s["id"] == "holding-page")["status"] == "ok"

    ok(sb.cli("up", "--to", "local-a", "--json"))  # the target comes back (on the same disk)
    resumed = ok(sb.cli("failover", "--resume", "--json"))
    assert resumed["status"] == "ok"
    data = next(s for s in resumed["steps"] if s["id"] == "data")
    assert data["outputs"]["route"] == "restore" and data["outputs"]["result"]["verify"]["ok"]
    assert _rows(sb, "local-a") == BALLAST_ROWS
    bind_ns, knot_ns = sb.nameservers
    assert _served(bind_ns) == _served(knot_ns) == {sb.a}
