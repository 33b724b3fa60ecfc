"""chirp deployed by ``migrate up`` to an SSH host in its own namespace, terminated, restored.

The host (tests/vps/sshhost.py) is a network namespace with sshd, dockerd and a non-root
sudo deploy user. Its images are built here from Debian's packages (tests/vps/images.py,
the rootfs cached under ~/.cache/migrate/test-images) and named in the target's settings,
as a user names their own registry's images. Everything goes through the real CLI: ``up``,
a post written and read back through chirp's API behind the nginx front, a second ``up``
that changes nothing, ``chaos terminate`` (every container stopped over SSH, the front's
port closed), ``up`` bringing it back with the post still there, and ``destroy``.
"""

from __future__ import annotations

import json
import secrets
import shutil
import tempfile
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import run_cli
from tests.vps.chirp_target import vps_target, wait_healthy, with_images
from tests.vps.sshhost import HostDocker, SshTestHost

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
CHIRP = REPO / "examples" / "chirp"
TARGET = "vps-t"


def _spec(base: Path, host: SshTestHost, tags: dict[str, str]) -> Path:
    document = yaml.safe_load((CHIRP / "migrate.yaml").read_text())
    document["targets"] = {TARGET: vps_target(host, tags)}
    with_images(document, tags)
    spec = base / "migrate.yaml"
    spec.write_text(yaml.safe_dump(document, sort_keys=False))
    return spec


def _cli(spec: Path, env: dict[str, str], *args: str) -> dict[str, Any]:
    result = run_cli(*args, "--json", "-f", str(spec), env=env)
    assert result.returncode == 0, f"{args}: exit {result.returncode}\n{result.stderr[-3000:]}"
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def test_chirp_up_terminate_up_destroy(chirp_host: tuple[SshTestHost, HostDocker, dict[str, str]]) -> None:
    host, docker, tags = chirp_host
    base = Path(tempfile.mkdtemp(prefix="migrate-vps-spec-"))
    env = {"MIGRATE_HOME": str(base / "home"), "CHIRP_SESSION_KEY": secrets.token_urlsafe(24)}
    spec = _spec(base, host, tags)
    front = f"http://{host.address}"
    try:
        _cli(spec, env, "up", "--to", TARGET)
        wait_healthy(f"{front}/healthz", docker)
        api = httpx.Client(base_url=front, headers={"Host": "chirp.test"}, timeout=10)
        user = api.post("/users", json={"name": "ada"})
        assert user.status_code in (201, 409), docker.docker("logs", "--tail", "30", "chirp-web-0").stderr[-2500:]
        token = secrets.token_hex(8)
        created = api.post("/posts", json={"user": "ada", "text": f"hello {token}"})
        assert created.status_code == 201, created.text
        post_id = created.json()["id"]
        assert token in api.get(f"/posts/{post_id}").text
        running = sorted(docker.docker("ps", "--format", "{{.Names}}").stdout.split())
        assert running == sorted(
            ["chirp-front", "chirp-postgres", "chirp-redis", "chirp-s3", "chirp-web-0", "chirp-web-1", "chirp-worker-0"]
        )

        again = _cli(spec, env, "up", "--to", TARGET)
        assert not {k: v for k, v in again.get("changes", {}).items() if k != "same"}, again.get("changes")

        cut = _cli(spec, env, "chaos", "terminate", "--target", TARGET)
        assert len(cut["stopped"]) == 7, cut
        assert docker.docker("ps", "-q").stdout.strip() == ""  # every container stopped at once
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"{front}/healthz", timeout=2)  # the front's port is closed

        _cli(spec, env, "up", "--to", TARGET)  # the probes fail: the stopped containers start again
        wait_healthy(f"{front}/healthz", docker)
        assert token in api.get(f"/posts/{post_id}").text  # data stayed on the host's disk

        _cli(spec, env, "destroy", "--target", TARGET, "--yes")
        assert docker.docker("ps", "-aq").stdout.strip() == ""
        assert not (host.directory / "srv" / "chirp" / "nginx").exists()
    finally:
        run_cli("destroy", "--target", TARGET, "--yes", "-f", str(spec), env=env)
        shutil.rmtree(base, ignore_errors=True)
