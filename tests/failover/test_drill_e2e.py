"""The product's main job, end to end: ``migrate drill`` on the local sandbox, with chirp.

One real run of the real CLI: the Pulumi engine deploys chirp twice (Postgres, versitygw S3,
Redis, app processes, front), real BIND and Knot serve the zone, chirp's load generator
writes to A, A is SIGKILLed, B is promoted from its logical replica, DNS swings and is
checked at every authoritative server. The spec is a copy of chirp's with random loopback
addresses for both targets and both DNS servers, and its own MIGRATE_HOME, so it collides
with nothing. Afterwards nothing of the drill may be left: no listener, no process, no
sandbox directory, no loopback address.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.failover.private_sandbox import NOTHING_LEFT, private_sandbox

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def drill() -> Iterator[dict[str, Any]]:
    sb = private_sandbox("migrate-drill-")
    try:
        result = sb.drill("--image-every", "4", media_mb=4)
        yield {"result": result, "a": sb.a, "b": sb.b, "nameservers": set(sb.nameservers), "leftovers": sb.leftovers()}
    finally:
        sb.clean_up()


@pytest.fixture(scope="module")
def report(drill: dict[str, Any]) -> dict[str, Any]:
    result = drill["result"]
    assert result.returncode == 0, f"drill failed (exit {result.returncode}):\n{result.stderr[-5000:]}"
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def _step(report: dict[str, Any], step_id: str) -> dict[str, Any]:
    return next(s for s in report["steps"] if s["id"] == step_id)


def test_the_drill_succeeds_and_prints_rto_rpo_and_the_report_path(
    drill: dict[str, Any], report: dict[str, Any]
) -> None:
    assert report["ok"] and report["status"] == "ok"
    figures = report["figures"]
    assert isinstance(figures["rto_seconds"], float) and 0 < figures["rto_seconds"] < 600
    assert figures["acked_writes"] > 0
    assert isinstance(figures["rpo_writes"], int) and 0 <= figures["rpo_writes"] <= figures["acked_writes"]
    assert figures["rpo_seconds"] >= 0 and figures["load_rate_achieved"] > 0
    # Uploads after the follower's last pass die with A: counted, never hidden.
    assert figures["media_writes"] > 0 and 0 <= figures["media_writes_lost"] <= figures["media_writes"]
    assert figures["media_follower_passes"] >= 1
    stderr = drill["result"].stderr
    assert f"RTO {figures['rto_seconds']:.2f}s" in stderr
    assert f"RPO {figures['rpo_writes']} acknowledged writes lost of {figures['acked_writes']}" in stderr
    assert f"report: {report['files']['html']}" in stderr


def test_the_report_files_exist_and_agree(report: dict[str, Any]) -> None:
    files = {kind: Path(path) for kind, path in report["files"].items()}
    assert json.loads(files["json"].read_text())["figures"] == report["figures"]
    suite = ET.parse(files["junit"]).getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "0"
    assert int(suite.get("tests", "0")) == len(report["steps"]) + 2  # every step, RTO and RPO goals
    html = files["html"].read_text()
    assert "<svg" in html and "RTO" in html and report["run_id"] in html


def test_b_was_promoted_from_a_verified_standby(report: dict[str, Any]) -> None:
    replicate = _step(report, "replicate")["outputs"]["replication"]
    assert replicate["state"] == "streaming" and replicate["tables_ready"] == replicate["tables_total"] > 0
    assert replicate["synchronous"]  # the drill's default: A's commits waited for B ...
    assert report["figures"]["rpo_writes"] == 0  # ... so no acknowledged write was lost with A
    media = _step(report, "media-copy")["outputs"]["result"]
    assert media["verify"]["ok"] and media["media"][0]["objects"] >= 1
    data = _step(report, "data")["outputs"]
    assert data["route"] == "promote" and data["replication"]["state"] == "promoted"
    assert not data["replication"]["source_reachable"]  # A really was dead
    assert _step(report, "backup")["status"] == "skipped"
    follower = _step(report, "terminate")["outputs"]["media_follower"]
    assert follower["stopped"] and follower["passes"] >= 1 and follower["synced_as_of"] is not None


def test_every_authoritative_nameserver_served_b_before_teardown(drill: dict[str, Any], report: dict[str, Any]) -> None:
    verified = _step(report, "dns-verify")["outputs"]
    assert verified["ok"]
    servers = {s["server"] for s in verified["servers"] if s["ok"]}
    assert drill["nameservers"] <= servers, servers
    assert {r["name"] for r in verified["expected"]} == {"chirp.test.", "www.chirp.test."}
    assert all(r["values"] == [drill["b"]] for r in verified["expected"])
    restored = _step(report, "measure")["outputs"]["restored"]
    assert set(restored["nameservers"]) >= drill["nameservers"]
    assert [label["label"] for label in report["marks"]] == ["local-a terminated", "service restored"]


def test_nothing_of_the_drill_is_left(drill: dict[str, Any], report: dict[str, Any]) -> None:
    assert _step(report, "teardown")["status"] == "ok"
    assert drill["leftovers"] == NOTHING_LEFT


def test_rpo_is_counted_per_kind_through_the_probes_and_by_the_canary(
    drill: dict[str, Any], report: dict[str, Any]
) -> None:
    """The spec's probes were read back through B's front (chirp's own API), and migrate's own
    canary rows and objects were counted on B: synchronous replication lost no row of either."""
    figures = report["figures"]
    rpo = figures["rpo"]
    assert figures["probes"] and rpo["probe_writes"]["acked"] == figures["acked_writes"] > 0
    assert rpo["probe_writes"]["lost"] == 0 and rpo["probe_writes"]["seconds"] == 0
    assert rpo["probe_uploads"]["acked"] == figures["media_writes"] > 0
    assert rpo["canary_rows"]["acked"] > 0 and rpo["canary_rows"]["lost"] == 0
    assert 0 <= rpo["canary_objects"]["lost"] <= rpo["canary_objects"]["acked"] and rpo["canary_objects"]["acked"] > 0
    assert figures["canary_rate_achieved"] > 0
    assert "canary rows: 0 lost of" in drill["result"].stderr
    assert _step(report, "canary")["outputs"] == {"table": "migrate_canary"}
