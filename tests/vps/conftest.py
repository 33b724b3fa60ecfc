from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.vps.images import load_images
from tests.vps.sshhost import HostDocker, SshTestHost, host_network_snapshot

CHIRP = Path(__file__).resolve().parents[2] / "examples" / "chirp"


@pytest.fixture
def ssh_host() -> Iterator[SshTestHost]:
    """A fresh SSH host in its own namespace; afterwards the machine is as it was."""
    before = host_network_snapshot()
    host = SshTestHost().start()
    try:
        yield host
    finally:
        host.close()
    assert host.leftovers() == []
    assert host_network_snapshot() == before


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
