"""The warm path is taken only when the standby is current, proved from the journal's order.

Real parts: runbooks/failover.yaml, both sandbox targets deployed by the Pulumi engine (chirp,
Postgres, S3, Redis, front), real BIND and Knot. Two failovers on one pair:

1. spec unchanged, A → B: B was deployed from this very spec, program and engine and answers,
   so ``provision`` is skipped and DNS swings before the engine touches B; ``converge`` runs
   the engine on B only after the swing was verified.
2. spec changed (an env value the processes get), B → A: A's fingerprint no longer matches, so
   the engine runs on A before the swing, and there is no converge afterwards.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from migrate.runbook.journal import RunJournal
from tests.failover.private_sandbox import PrivateSandbox, deployed_pair, ok
from tests.failover.test_faults import _served

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pair() -> Iterator[PrivateSandbox]:
    with deployed_pair("migrate-warm-") as sb:
        yield sb


def _latest_journal(sb: PrivateSandbox) -> list[dict[str, Any]]:
    journal = max((sb.home / "journal" / "runs").glob("*.jsonl"), key=lambda p: p.stat().st_mtime)
    return RunJournal(journal).entries()


def _at(entries: list[dict[str, Any]], event: str, step: str) -> float:
    (found,) = [float(e["at"]) for e in entries if e["event"] == event and e.get("step") == step]
    return found


def _events(entries: list[dict[str, Any]], step: str) -> list[str]:
    return [e["event"] for e in entries if e.get("step") == step and e["event"].startswith("step-")]


def test_a_current_standby_takes_over_before_the_engine_converges_it(pair: PrivateSandbox) -> None:
    sb = pair
    report = ok(sb.cli("failover", "--from", "local-a", "--to", "local-b", "--json"))
    assert report["status"] == "ok"
    entries = _latest_journal(sb)
    steps = {s["id"]: s for s in report["steps"]}
    assert steps["standby"]["outputs"]["current"] is True, steps["standby"]["outputs"]
    assert steps["standby"]["outputs"]["figures"]["takeover_route"] == "warm"
    assert _events(entries, "provision") == ["step-skipped"]
    assert _events(entries, "converge") == ["step-start", "step-end"] and steps["converge"]["status"] == "ok"
    # The swing happened, and was verified, before the engine ran on B at all.
    assert _at(entries, "step-end", "dns-swing") < _at(entries, "step-end", "dns-verify")
    assert _at(entries, "step-end", "dns-verify") <= _at(entries, "step-start", "converge")
    engine_runs = [
        e for e in entries if e["event"] == "step-start" and str(e.get("action", "")).startswith("target.up")
    ]
    assert [e["step"] for e in engine_runs] == ["converge"]
    assert steps["data"]["outputs"]["route"] == "sync"  # A still answered: a planned move
    bind_ns, knot_ns = sb.nameservers
    assert _served(bind_ns) == _served(knot_ns) == {sb.b}


def test_a_changed_spec_makes_the_engine_run_before_the_swing(pair: PrivateSandbox) -> None:
    sb = pair
    document = yaml.safe_load(sb.spec.read_text())
    document.setdefault("env", {})["WARM_PATH_TEST"] = "changed"
    sb.spec.write_text(yaml.safe_dump(document, sort_keys=False))
    report = ok(sb.cli("failover", "--from", "local-b", "--to", "local-a", "--json"))
    assert report["status"] == "ok"
    entries = _latest_journal(sb)
    steps = {s["id"]: s for s in report["steps"]}
    standby = steps["standby"]["outputs"]
    assert standby["current"] is False and "another spec" in standby["detail"], standby
    assert standby["figures"]["takeover_route"] == "cold"
    assert steps["provision"]["status"] == "ok"
    assert _at(entries, "step-end", "provision") < _at(entries, "step-start", "data")
    assert _at(entries, "step-end", "provision") < _at(entries, "step-start", "dns-swing")
    assert _events(entries, "converge") == ["step-skipped"]
    bind_ns, knot_ns = sb.nameservers
    assert _served(bind_ns) == _served(knot_ns) == {sb.a}
    # The engine's update recorded A's new fingerprint once it had finished.
    record = json.loads((sb.home / "fingerprints" / "chirp-local-a.json").read_text())
    assert _at(entries, "step-start", "provision") < record["recorded_at"] < _at(entries, "step-end", "provision")
