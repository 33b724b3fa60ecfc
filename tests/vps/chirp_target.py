"""chirp's spec pointed at an SSH test host: the target's settings, the locally built images."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.vps.sshhost import HostDocker, SshTestHost


def vps_target(host: SshTestHost, tags: dict[str, str]) -> dict[str, Any]:
    """A vps target on ``host``, its images the ones built here (as a user names their registry's)."""
    return {
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


def with_images(document: dict[str, Any], tags: dict[str, str]) -> None:
    """Every process runs the app image built here (the local sandbox ignores images)."""
    for process in document["processes"].values():
        process["image"] = tags["app"]


def wait_healthy(url: str, docker: HostDocker, seconds: float = 60) -> None:
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
