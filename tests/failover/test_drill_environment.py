"""A drill with secrets planted in the operator's environment: no process it starts holds one.

At the fault point before the termination (both targets deployed, the standby replicating,
the media follower running, the DNS sandbox serving) the runbook runs ``tests.failover.env_scan``,
which reads ``/proc/<pid>/environ`` of every live process but the drill's own.
"""

from __future__ import annotations

import json
import secrets
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from tests.failover.private_sandbox import private_sandbox

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def scanned() -> Iterator[dict[str, Any]]:
    sb = private_sandbox("migrate-drillenv-")
    tag = secrets.token_hex(8)
    planted = {
        "PULUMI_CONFIG_PASSPHRASE": f"planted-passphrase-{tag}",
        "MIGRATE_BACKUP_KEY": f"planted-backup-key-{tag}",
        "AWS_SECRET_ACCESS_KEY": f"planted-aws-{tag}",
        "GITHUB_TOKEN": f"planted-github-{tag}",
        "HCLOUD_TOKEN": f"planted-hcloud-{tag}",
    }
    planted_file, out_file = sb.base / "planted.json", sb.base / "scan.json"
    planted_file.write_text(json.dumps(planted))
    try:
        result = sb.drill(
            load_seconds=2,
            rate=20,
            env={
                **planted,
                "MIGRATE_FAULT_AT": "before:terminate",
                "MIGRATE_FAULT_RUN": f"{sys.executable} -m tests.failover.env_scan {planted_file} {out_file}",
            },
            timeout=900,
        )
        yield {"result": result, "scan": json.loads(out_file.read_text()) if out_file.exists() else None}
    finally:
        sb.clean_up()


def test_the_drill_ran_and_the_scan_saw_its_processes(scanned: dict[str, Any]) -> None:
    result = scanned["result"]
    assert result.returncode == 0, result.stderr[-4000:]
    assert scanned["scan"] is not None, "the fault point never ran the scan"
    assert scanned["scan"]["scanned"] > 10


def test_no_process_of_the_drill_holds_a_planted_secret(scanned: dict[str, Any]) -> None:
    assert scanned["scan"] is not None
    assert scanned["scan"]["leaks"] == []
