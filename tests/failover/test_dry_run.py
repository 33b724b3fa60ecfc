"""``--dry-run`` of the failover and the drill against a private sandbox whose DNS servers run:
each step's plan holds facts (the pre-flight's findings, the owned records, the nameservers,
the data route), and nothing is created or changed — no stack, journal, run directory, file,
process or DNS record."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from migrate.errors import InputError
from migrate.runbook.dry_run import PlanContext, plan_steps
from migrate.runbook.model import Runbook, parse_runbook
from migrate.runbook.registry import action
from tests.conftest import run_cli
from tests.engine.helpers import listening_ports
from tests.failover.private_sandbox import PrivateSandbox, private_sandbox, processes_mentioning
from tests.test_read_only_commands import NOTHING, changes, snapshot

MINI = Path(__file__).parent / "runbooks" / "mini.yaml"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[PrivateSandbox]:
    box = private_sandbox("migrate-dryrun-")
    try:
        up = box.cli("dns", "sandbox", "up", "--json", timeout=120)
        assert up.returncode == 0, up.stderr[-2000:]
        yield box
    finally:
        box.cli("dns", "sandbox", "down", timeout=60)
        box.clean_up()


def _dry_run(box: PrivateSandbox, *command: str) -> dict[str, Any]:
    """The dry run's document, after proving it changed nothing on disk, in DNS or in processes."""
    servers = (box.home / "sandbox" / "dns",)  # the running DNS servers' own files
    before, dns_before = snapshot(box.base, exclude=servers), box.cli("dns", "status", "--json").stdout
    processes = processes_mentioning(str(box.base))
    result = box.cli(*command, "--dry-run", "--json", timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert changes(before, snapshot(box.base, exclude=servers)) == NOTHING
    assert box.cli("dns", "status", "--json").stdout == dns_before
    assert processes_mentioning(str(box.base)) == processes
    assert not listening_ports(box.a) and not listening_ports(box.b)
    assert not (box.home / "journal").exists() and not (box.home / "runs").exists()
    document: dict[str, Any] = json.loads(result.stdout)
    assert document["dry_run"] is True
    assert [set(step) for step in document["steps"]] == [
        {"id", "title", "action", "with", "precondition", "plan"} for _ in document["steps"]
    ]
    return document


def _plans(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {step["id"]: step["plan"] for step in document["steps"]}


def test_failover_dry_run_plans_each_step_from_what_is_there(sandbox: PrivateSandbox) -> None:
    document = _dry_run(sandbox, "failover", "--from", "local-a", "--to", "local-b")
    assert document["runbook"] == "failover" and document["params"]["holding_on"] == "local-a"
    steps = {step["id"]: step for step in document["steps"]}
    assert steps["data"]["with"] == {"source": "local-a", "dest": "local-b", "backup": None}
    plans = _plans(document)
    assert any(f.startswith("ok ttl: TTL 30s") for f in plans["preflight"]["findings"])
    assert plans["preflight"]["deployed now"] == {"local-a": False, "local-b": False}
    assert plans["dns-swing"]["records"] == ["chirp.test. A", "www.chirp.test. A"]
    assert plans["dns-swing"]["dns providers"] == ["sandbox-bind", "sandbox-knot"]
    verified = " ".join(plans["dns-verify"]["nameservers"])
    assert sandbox.nameservers[0] in verified and sandbox.nameservers[1] in verified
    assert steps["holding-page"]["precondition"]["holds"] is True  # local-a does not answer
    assert plans["holding-page"]["url"] == f"http://{sandbox.a}:80/"
    assert plans["restart"] == {
        "skipped": "precondition target.restart_wanted not met: no process is marked restart_after_promotion"
    }
    assert plans["provision"]["engine"].startswith("creates the stack")
    assert plans["data"]["route"] == "none: the step fails"  # local-a is not deployed, no backup given
    backup = sandbox.base / "backups"
    restored = _plans(_dry_run(sandbox, "failover", "--from", "local-a", "--to", "local-b", "--backup", str(backup)))
    assert restored["data"]["route"] == "restore" and restored["data"]["backup"] == str(backup)
    assert not backup.exists()


def test_drill_dry_run_follows_the_data_mode(sandbox: PrivateSandbox) -> None:
    replica = _dry_run(sandbox, "drill", "--from", "local-a", "--to", "local-b", "--rate", "20")
    plans = _plans(replica)
    assert plans["load"]["load"] == "20 writes/s for 5s (about 100 writes)"
    assert plans["replicate"]["replicates"] == "local-a → local-b"
    assert plans["data"]["route"] == "promote" and "skipped" in plans["backup"]
    assert set(plans["sandbox-dns"]["already running"]) == {"sandbox-bind", "sandbox-knot"}
    holding = next(step for step in replica["steps"] if step["id"] == "holding-page")["precondition"]
    assert holding["holds"] is True and holding["detail"] == "step terminate terminates local-a"
    restore = _plans(_dry_run(sandbox, "drill", "--from", "local-a", "--to", "local-b", "--data", "restore"))
    assert "skipped" in restore["replicate"] and "skipped" in restore["standby-up"]
    assert restore["data"]["route"] == "restore" and restore["data"]["because"].startswith("step terminate")


def test_runbook_run_dry_run_is_the_same_plan(sandbox: PrivateSandbox) -> None:
    direct = _dry_run(sandbox, "failover", "--from", "local-a", "--to", "local-b")
    generic = _dry_run(sandbox, "runbook", "run", "failover", "-p", "from=local-a", "-p", "to=local-b")
    assert generic == direct


def test_a_runbooks_dry_run_resolves_arguments_and_runs_no_action(tmp_path: Path) -> None:
    """``runbook run --dry-run`` of the stand-in runbook: the arguments as a run passes them,
    the describer's facts, {} for a step without one, and not one action run (no calls.log)."""
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "data.bin").write_bytes(b"x" * 1234)
    before = snapshot(tmp_path)
    result = run_cli(
        "runbook", "run", str(MINI), "-p", f"workdir={tmp_path}", "-f", str(tmp_path / "none"), "--dry-run", "--json"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    steps = {step["id"]: step for step in json.loads(result.stdout)["steps"]}
    assert steps["provision"] == {
        "id": "provision",
        "title": "Provision B",
        "action": "test.provision",
        "with": {"name": "b"},
        "precondition": None,
        "plan": {},
    }
    assert steps["restore"]["plan"] == {"copies": "1234 bytes", "to": str(tmp_path / "b")}
    assert steps["restore"]["precondition"] == {"do": "test.exists(name=a/data.bin)"}
    assert changes(before, snapshot(tmp_path)) == NOTHING


def _runbook(action: str, **arguments: Any) -> Runbook:
    return parse_runbook(
        {
            "name": "one",
            "title": "One",
            "params": {"to": {}},
            "steps": [{"id": "only", "title": "Only", "action": {"do": action, "with": arguments}}],
        },
        "test",
    )


def test_a_describer_that_journals_is_refused_and_wrong_arguments_are_bad_input() -> None:
    @action("test.dry-run-journals", describe=lambda ctx, at: ctx.log(f"pointing at {at}") or {})
    def journals(ctx: Any, at: str) -> None:
        raise AssertionError("a dry run ran the action")

    with pytest.raises(RuntimeError, match="journals nothing"):
        plan_steps(_runbook("test.dry-run-journals", at="${to}"), PlanContext("dry-run", {"to": "b"}))
    with pytest.raises(InputError, match="cannot take"):
        plan_steps(_runbook("test.dry-run-journals", where="b"), PlanContext("dry-run", {"to": "b"}))
