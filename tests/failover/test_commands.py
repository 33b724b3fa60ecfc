"""The product commands that need no stack: holding page, audit, runbook show, dry-run, reports."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import CHIRP_SPEC, run_cli


def _spec_with_target(tmp_path: Path, address: str, port: int, ttl: int = 30) -> Path:
    text = CHIRP_SPEC.read_text().replace("address: 127.10.0.1", f"address: {address}\n    http_port: {port}")
    text = text.replace("ttl: 30", f"ttl: {ttl}")
    spec = tmp_path / "migrate.yaml"
    spec.write_text(text)
    return spec


def test_holding_page_serves_the_spec_title_and_message_on_the_old_address(tmp_path: Path) -> None:
    address, port = f"127.{random.randint(100, 200)}.{random.randint(1, 250)}.7", random.randint(20000, 30000)
    spec = _spec_with_target(tmp_path, address, port)
    env = {"MIGRATE_HOME": str(tmp_path / "home")}
    up = run_cli("-f", str(spec), "holding-page", "up", "--on", "local-a", "--json", env=env, timeout=30)
    try:
        assert up.returncode == 0, up.stderr
        assert json.loads(up.stdout)["seconds"] < 5
        page = httpx.get(f"http://{address}:{port}/any/path", headers={"Host": "chirp.test"})
        assert page.status_code == 503 and page.headers["retry-after"]
        assert "chirp is moving" in page.text and "Posts are safe" in page.text
    finally:
        down = run_cli("-f", str(spec), "holding-page", "down", "--on", "local-a", env=env, timeout=30)
    assert down.returncode == 0, down.stderr
    try:
        httpx.get(f"http://{address}:{port}/", timeout=1)
        raise AssertionError("the holding page still answers")
    except httpx.ConnectError:
        pass


def test_audit_fails_when_the_ttl_exceeds_the_recovery_goal(tmp_path: Path) -> None:
    spec = _spec_with_target(tmp_path, "127.10.0.1", 80, ttl=3600)
    result = run_cli("-f", str(spec), "preflight", "--from", "local-a", "--json")
    assert result.returncode == 1
    document = json.loads(result.stdout)
    (ttl,) = document["zone"]
    assert ttl["area"] == "ttl" and ttl["severity"] == "critical" and "3600s" in ttl["message"]
    assert [f["area"] for f in document["blocking"]] == ["ttl"]
    dns = {f["area"]: f for f in _findings(document, "local-a")}["dns"]
    assert dns["severity"] != "critical"  # the sandbox's nameservers outlive local-a's processes


def test_audit_flags_route53_as_the_only_dns_when_leaving_aws(tmp_path: Path) -> None:
    text = CHIRP_SPEC.read_text().replace("providers: [sandbox-bind, sandbox-knot]", "providers: [route53]")
    spec = tmp_path / "migrate.yaml"
    spec.write_text(text)
    result = run_cli(
        "-f",
        str(spec),
        "preflight",
        "--from",
        "aws-prod",
        "--json",
        env={"PULUMI_BACKEND_URL": "s3://chirp-pulumi-state"},
    )
    assert result.returncode == 1
    findings = {f["area"]: f for f in _findings(json.loads(result.stdout), "aws-prod")}
    assert findings["dns"]["severity"] == "critical" and findings["state"]["severity"] == "critical"


def _findings(document: dict[str, Any], target: str) -> list[dict[str, str]]:
    (entry,) = [t for t in document["targets"] if t["target"] == target]
    return list(entry["findings"])


def test_runbook_show_renders_every_step_for_a_person() -> None:
    result = run_cli("runbook", "show", "failover", "--from", "local-a", "--to", "local-b")
    assert result.returncode == 0, result.stderr
    for step in ("preflight", "holding-page", "provision", "data", "smoke", "dns-swing", "dns-verify"):
        assert f"(`{step}`)" in result.stdout
    assert "migrate holding-page up --on local-a" in result.stdout


def test_dry_run_prints_the_plan_and_changes_nothing(tmp_path: Path) -> None:
    result = run_cli(
        "-f",
        str(CHIRP_SPEC),
        "failover",
        "--from",
        "local-a",
        "--to",
        "local-b",
        "--backup",
        "s3://drill:hunter2-secret@127.0.0.1:9/backups",
        "--dry-run",
        "--json",
        env={"MIGRATE_HOME": str(tmp_path / "home")},
    )
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["dry_run"] and document["steps"][0]["id"] == "preflight"
    plans = {step["id"]: step["plan"] for step in document["steps"]}
    assert any("127.0.53.1" in server for server in plans["dns-verify"]["nameservers"])
    assert not (tmp_path / "home").exists()
    # Redacted as a run's journal is: the backup URL's password is not printed.
    assert "hunter2-secret" not in result.stdout + result.stderr
    assert plans["data"]["route"] == "restore" and plans["data"]["backup"] == "s3://drill:[secret]@127.0.0.1:9/backups"


def test_unknown_target_is_bad_input() -> None:
    result = run_cli("-f", str(CHIRP_SPEC), "drill", "--from", "local-a", "--to", "nowhere")
    assert result.returncode == 2 and "unknown target 'nowhere'" in result.stderr


def test_html_report_has_a_timeline_of_the_steps(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "data.bin").write_bytes(b"x" * 1000)
    runbook = Path(__file__).parent / "runbooks" / "mini.yaml"
    result = run_cli(
        "runbook",
        "run",
        str(runbook),
        "-p",
        f"workdir={tmp_path}",
        "-f",
        str(tmp_path / "none"),
        "--reports",
        str(tmp_path / "reports"),
        "--json",
        env={"MIGRATE_HOME": str(tmp_path / "h")},
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    html = Path(report["files"]["html"]).read_text()
    assert "<svg" in html and html.count("<rect") == 4 and "<script" not in html


def test_runbook_run_checks_the_drills_parameters_as_migrate_drill_does(tmp_path: Path) -> None:
    """The drill's rules are the runbook's (choices, targets, distinct), so ``runbook run drill``
    refuses what ``migrate drill`` refuses, before anything is created."""
    home = tmp_path / "home"
    cases = [
        (["-p", "from=local-a", "-p", "to=local-a"], "from and to must be different targets"),
        (["-p", "from=local-a", "-p", "to=nowhere"], "unknown target 'nowhere'"),
        (["-p", "from=local-a", "-p", "to=local-b", "-p", "data_mode=bogus"], "data_mode must be replica or restore"),
    ]
    for params, message in cases:
        result = run_cli("-f", str(CHIRP_SPEC), "runbook", "run", "drill", *params, env={"MIGRATE_HOME": str(home)})
        assert result.returncode == 2 and message in result.stderr, (params, result.stderr[-1500:])
    same = run_cli("-f", str(CHIRP_SPEC), "drill", "--from", "local-a", "--to", "local-a", "--dry-run")
    assert same.returncode == 2 and "must be different targets" in same.stderr
    assert not home.exists()


def test_a_throwaway_runbook_gives_unset_app_secrets_a_random_value_whichever_command_runs_it(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "data.bin").write_bytes(b"x" * 100)
    mini = (Path(__file__).parent / "runbooks" / "mini.yaml").read_text()
    runbook = tmp_path / "throwaway.yaml"
    runbook.write_text(mini.replace("imports:", "throwaway_secrets: true\nimports:", 1))
    result = run_cli(
        "-f",
        str(CHIRP_SPEC),
        "runbook",
        "run",
        str(runbook),
        "-p",
        f"workdir={tmp_path}",
        "--reports",
        str(tmp_path / "reports"),
        "--json",
        env={"MIGRATE_HOME": str(tmp_path / "h")},
        unset=("CHIRP_SESSION_KEY",),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "secrets.CHIRP_SESSION_KEY: CHIRP_SESSION_KEY is not set" in result.stderr
