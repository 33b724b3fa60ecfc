"""``migrate audit`` through the real CLI, on chirp's spec and variants of it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import CHIRP_SPEC, run_cli


def variant(tmp_path: Path, change: Any) -> Path:
    document = yaml.safe_load(CHIRP_SPEC.read_text())
    change(document)
    path = tmp_path / "migrate.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def audit_json(*args: str) -> tuple[int, dict[str, Any]]:
    result = run_cli("audit", "--json", *args)
    return result.returncode, json.loads(result.stdout)


def findings(document: dict[str, Any], target: str) -> list[dict[str, str]]:
    (entry,) = [t for t in document["targets"] if t["target"] == target]
    return list(entry["findings"])


def test_chirp_audit_lists_every_target() -> None:
    code, document = audit_json("-f", str(CHIRP_SPEC))
    assert code == 0  # findings are reported, not failed on, without --strict
    assert {t["target"] for t in document["targets"]} == {
        "local-a",
        "local-b",
        "aws-prod",
        "hetzner-fsn",
        "do-ams",
        "vps-epik",
        "k8s",
    }
    # The sandbox's nameservers run on the same machine as the sandbox targets: true, and
    # the only critical findings; the cloud targets' DNS is elsewhere.
    critical = [
        (t["target"], f["area"]) for t in document["targets"] for f in t["findings"] if f["severity"] == "critical"
    ]
    assert critical == [("local-a", "dns"), ("local-b", "dns")]
    assert document["critical"] == 2 and document["ok"] is False
    aws = findings(document, "aws-prod")
    assert {f["area"] for f in aws} >= {"backups", "provider-only"}
    assert any("Route53 ALIAS" in f["message"] for f in aws)
    assert any(f["area"] == "operator" for f in findings(document, "vps-epik"))


def test_dns_only_at_the_targets_company_is_critical(tmp_path: Path) -> None:
    def route53_only(doc: dict[str, Any]) -> None:
        doc["dns"]["providers"] = ["route53"]

    spec = variant(tmp_path, route53_only)
    code, document = audit_json("-f", str(spec), "-t", "aws-prod", "-t", "do-ams")
    assert code == 0
    (dns,) = [f for f in findings(document, "aws-prod") if f["area"] == "dns"]
    assert dns["severity"] == "critical" and "route53" in dns["message"]
    assert not [f for f in findings(document, "do-ams") if f["area"] == "dns"]
    strict = run_cli("audit", "--strict", "-f", str(spec), "-t", "aws-prod")
    assert strict.returncode == 1
    assert "critical" in strict.stdout


def test_data_only_at_one_company_is_critical(tmp_path: Path) -> None:
    def one_target(doc: dict[str, Any]) -> None:
        doc["targets"] = {"do-ams": doc["targets"]["do-ams"]}

    _, document = audit_json("-f", str(variant(tmp_path, one_target)))
    (data,) = [f for f in findings(document, "do-ams") if f["area"] == "data"]
    assert data["severity"] == "critical"
    assert "Postgres data and media buckets exist only at digitalocean" in data["message"]


def test_operator_names_the_company(tmp_path: Path) -> None:
    def vps_at_aws(doc: dict[str, Any]) -> None:
        doc["targets"]["vps-epik"]["operator"] = "aws"
        doc["dns"]["providers"] = ["route53", "sandbox-bind"]

    _, document = audit_json("-f", str(variant(tmp_path, vps_at_aws)), "-t", "vps-epik")
    (entry,) = document["targets"]
    assert entry["operator"] == "aws"
    (dns,) = [f for f in entry["findings"] if f["area"] == "dns"]
    assert dns["severity"] == "warning"


def test_unknown_target_is_bad_input() -> None:
    result = run_cli("audit", "-f", str(CHIRP_SPEC), "-t", "nope")
    assert result.returncode == 2
    assert "unknown target 'nope'" in result.stderr
    assert "Traceback" not in result.stderr


def test_zone_findings_single_operator_and_ttl_over_the_recovery_goal(tmp_path: Path) -> None:
    def slow_ttl(doc: dict[str, Any]) -> None:
        doc["dns"]["records"][1]["ttl"] = 600  # www A, over chirp's rto_seconds of 300

    code, document = audit_json("-f", str(variant(tmp_path, slow_ttl)), "-t", "aws-prod")
    assert code == 0
    zone = {f["area"]: f for f in document["zone"]}
    assert zone["dns"]["severity"] == "warning" and "served only by local" in zone["dns"]["message"]
    assert zone["ttl"]["severity"] == "critical" and "600s (www A)" in zone["ttl"]["message"]
    assert document["critical"] == 1 and [f["area"] for f in document["blocking"]] == ["ttl"]
