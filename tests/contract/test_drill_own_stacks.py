"""A drill creates and destroys only its own stacks: a target deployed before it is refused by
the pre-flight, before step 1, and is left exactly as it was (still deployed, still serving)."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import httpx

from tests.conftest import CHIRP_SPEC, run_cli
from tests.engine.helpers import free_loopback_address


def test_a_drill_refuses_a_target_deployed_before_it_and_leaves_it_serving() -> None:
    # Under /tmp with o+x: the postgres user must traverse to its data directory.
    tmp_path = Path(tempfile.mkdtemp(prefix="migrate-contract-", dir="/tmp"))
    tmp_path.chmod(0o755)
    (tmp_path / "chirp").symlink_to(CHIRP_SPEC.parent / "chirp")  # the app's code beside its spec
    a, b = free_loopback_address(), free_loopback_address()
    text = CHIRP_SPEC.read_text().replace("address: 127.10.0.1", f"address: {a}")
    spec = tmp_path / "migrate.yaml"
    spec.write_text(text.replace("address: 127.20.0.1", f"address: {b}"))
    env = {"MIGRATE_HOME": str(tmp_path / "home"), "CHIRP_SESSION_KEY": "drill-test-key"}
    up = run_cli("-f", str(spec), "up", "--to", "local-b", "--json", env=env, timeout=300)
    assert up.returncode == 0, up.stderr
    health = json.loads(up.stdout)["outputs"]["health_url"]
    try:
        assert httpx.get(health, timeout=5).status_code == 200
        drill = run_cli("-f", str(spec), "drill", "--from", "local-a", "--to", "local-b", env=env, timeout=300)
        assert drill.returncode != 0
        assert "local-b is already deployed" in drill.stderr + drill.stdout
        # left exactly as found: still deployed and serving; local-a was never created
        assert httpx.get(health, timeout=5).status_code == 200
        status = run_cli("-f", str(spec), "status", "--json", "--no-health", env=env, timeout=120)
        deployed = {t["target"]: t["deployed"] for t in json.loads(status.stdout)["targets"]}
        assert deployed["local-b"] is True and deployed["local-a"] is False
    finally:
        run_cli("-f", str(spec), "destroy", "--target", "local-b", env=env, timeout=300)
        shutil.rmtree(tmp_path, ignore_errors=True)
