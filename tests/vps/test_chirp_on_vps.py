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
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import run_cli
from tests.vps.images import load_images
from tests.vps.sshhost import HostDocker, SshTestHost

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
CHIRP = REPO / "examples" / "chirp"
TARGET = "vps-t"


@pytest.fixture
def chirp_host(ssh_host: SshTestHost) -> Iterator[tuple[SshTestHost, HostDocker, dict[str, str]]]:
    docker = HostDocker(ssh_host).start()
    try:
        build = Path(tempfile.mkdtemp(prefix="migrate-images-"))
        try:
            tags = load_images(["docker", "-H", f"unix://{docker.socket}"], build, app_dir=CHIRP)
        finally:
            shutil.rmtree(build, ignore_errors=True)
        yield ssh_host, docker, tags
    finally:
        docker.close()


def _spec(base: Path, host: SshTestHost, tags: dict[str, str]) -> Path:
    document = yaml.safe_load((CHIRP / "migrate.yaml").read_text())
    document["targets"] = {
        TARGET: {
            "provider": "vps",
            "hosts": [
                {
                    "address": host.address,
                    "user": host.user,
                    "private_key": {"file": str(host.private_key_path)},
                    "host_key": host.host_key,
                }
            ],
            "base_dir": str(host.directory / "srv"),
            "postgres_image": tags["postgres"],
            "redis_image": tags["redis"],
            "front_image": tags["nginx"],
            "object_store_image": tags["versitygw"],
        }
    }
    for process in document["processes"].values():
        process["image"] = tags["app"]
    spec = base / "migrate.yaml"
    spec.write_text(yaml.safe_dump(document, sort_keys=False))
    return spec


def _cli(spec: Path, env: dict[str, str], *args: str) -> dict[str, Any]:
    result = run_cli(*args, "--json", "-f", str(spec), env=env)
    assert result.returncode == 0, f"{args}: exit {result.returncode}\n{result.stderr[-3000:]}"
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def _wait_healthy(url: str, docker: HostDocker, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    in_a_row = 0  # nginx balances over both replicas: every one must answer
    while time.monotonic() < deadline:
        try:
            ok = httpx.get(url, headers={"Host": "chirp.test"}, timeout=2).status_code == 200
        except httpx.HTTPError:
            ok = False
        in_a_row = in_a_row + 1 if ok else 0
        if in_a_row >= 6:
            return
        time.sleep(0.3)
    logs = {
        name: docker.docker("logs", "--tail", "8", name, check=False).stderr[-800:]
        for name in docker.docker("ps", "-a", "--format", "{{.Names}}").stdout.split()
    }
    pytest.fail(f"{url} never answered 200: {docker.docker('ps', '-a').stdout} {logs}")


def test_chirp_up_terminate_up_destroy(chirp_host: tuple[SshTestHost, HostDocker, dict[str, str]]) -> None:
    host, docker, tags = chirp_host
    base = Path(tempfile.mkdtemp(prefix="migrate-vps-spec-"))
    env = {"MIGRATE_HOME": str(base / "home"), "CHIRP_SESSION_KEY": secrets.token_urlsafe(24)}
    spec = _spec(base, host, tags)
    front = f"http://{host.address}"
    try:
        _cli(spec, env, "up", "--to", TARGET)
        _wait_healthy(f"{front}/healthz", docker)
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
        _wait_healthy(f"{front}/healthz", docker)
        assert token in api.get(f"/posts/{post_id}").text  # data stayed on the host's disk

        _cli(spec, env, "destroy", "--target", TARGET, "--yes")
        assert docker.docker("ps", "-aq").stdout.strip() == ""
        assert not (host.directory / "srv" / "chirp" / "nginx").exists()
    finally:
        run_cli("destroy", "--target", TARGET, "--yes", "-f", str(spec), env=env)
        shutil.rmtree(base, ignore_errors=True)
