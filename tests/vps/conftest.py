from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.vps.sshhost import SshTestHost, host_network_snapshot


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
