"""The vps data tunnel (providers/vps/tunnel.py, access.py) against a real sshd in its own namespace.

A TCP echo service runs inside the host's namespace, bound to the host's address; the
tunnel carries connections to it over the pinned SSH session, as ``data sync`` reaches a
vps target's Postgres and Redis.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from pydantic import SecretStr

from migrate.errors import MigrateError
from migrate.outputs import TargetOutputs
from providers.vps.access import tunnelled
from providers.vps.settings import VpsSettings
from providers.vps.ssh import Endpoint, SshError
from providers.vps.tunnel import Tunnel
from tests.vps.sshhost import SshTestHost

pytestmark = pytest.mark.slow

ECHO = """
import socket, sys, threading
server = socket.create_server((sys.argv[1], int(sys.argv[2])))
def serve(conn):
    with conn:
        while data := conn.recv(65536):
            conn.sendall(data)
while True:
    conn, _ = server.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
"""


@pytest.fixture
def echo_host(ssh_host: SshTestHost) -> Iterator[tuple[SshTestHost, int]]:
    """The SSH host with an echo service on its own address, port 5432 (where Postgres would be)."""
    port = 5432
    process = subprocess.Popen(
        ["nsenter", f"--net=/run/netns/{ssh_host.netns}", sys.executable, "-c", ECHO, ssh_host.address, str(port)],
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 10
        while (
            subprocess.run(
                ["nsenter", f"--net=/run/netns/{ssh_host.netns}", "ss", "-Hltn", f"sport = :{port}"],
                capture_output=True,
                text=True,
            ).stdout.strip()
            == ""
        ):
            assert time.monotonic() < deadline, "the echo service did not start"
            time.sleep(0.05)
        yield ssh_host, port
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(10)


def _endpoint(host: SshTestHost, host_key: str | None) -> Endpoint:
    return Endpoint(host.address, 22, host.user, host.private_key, host_key)


def _echo(address: str, port: int, payload: bytes) -> bytes:
    with socket.create_connection((address, port), timeout=10) as conn:
        conn.sendall(payload)
        conn.shutdown(socket.SHUT_WR)
        received = bytearray()
        while chunk := conn.recv(65536):
            received += chunk
    return bytes(received)


def test_forward_carries_bytes_both_ways_and_closes(echo_host: tuple[SshTestHost, int]) -> None:
    host, port = echo_host
    with Tunnel(_endpoint(host, host.host_key)) as tunnel:
        address, local = tunnel.forward(host.address, port)
        assert address == "127.0.0.1"
        payload = secrets.token_bytes(2_000_000)
        assert _echo(address, local, payload) == payload
        assert _echo(address, local, b"again") == b"again"  # every connection gets its own channel
        # a port nothing listens on at the host: the local client sees the connection end
        _, dead = tunnel.forward(host.address, 1)
        with socket.create_connection((address, dead), timeout=5) as conn:
            assert conn.recv(10) == b""
    with pytest.raises(OSError):
        socket.create_connection((address, local), timeout=2).close()


def test_tunnel_needs_the_pinned_key(echo_host: tuple[SshTestHost, int], tmp_path: Path) -> None:
    host, _ = echo_host
    with pytest.raises(SshError, match="no pinned host key"):
        Tunnel(_endpoint(host, None))
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "k")], check=True)
    other = " ".join((tmp_path / "k.pub").read_text().split()[:2])
    with pytest.raises(SshError, match="host key changed"):
        Tunnel(_endpoint(host, other))


def test_data_access_points_the_urls_at_the_tunnel(echo_host: tuple[SshTestHost, int]) -> None:
    host, port = echo_host
    key = {"file": str(host.private_key_path)}
    settings = VpsSettings.model_validate(
        {"provider": "vps", "hosts": [{"address": host.address, "user": host.user, "private_key": key}]}
    )
    outputs = TargetOutputs(
        target="vps-t",
        provider="vps",
        public_addresses=[host.address],
        health_url=f"http://{host.address}/healthz",
        database_url=SecretStr(f"postgresql://chirp:pw@{host.address}:{port}/chirp"),
        s3_endpoint=f"http://{host.address}:9000",
        ssh_host_keys={host.address: host.host_key},  # the key the stack recorded (no pin in the spec)
    )
    with ExitStack() as stack:
        reached = tunnelled("vps-t", settings, outputs, stack)
        assert reached.database_url is not None
        url = urlsplit(reached.database_url.get_secret_value())
        assert (url.hostname, url.username, url.password, url.path) == ("127.0.0.1", "chirp", "pw", "/chirp")
        assert url.port is not None and _echo("127.0.0.1", url.port, b"SELECT 1") == b"SELECT 1"
        assert reached.s3_endpoint == outputs.s3_endpoint  # the object store: as exported
        assert reached.redis_url is None
    with pytest.raises(MigrateError, match=r"hosts\[0\]: no pinned host key"):
        tunnelled("vps-t", settings, outputs.model_copy(update={"ssh_host_keys": {}}), ExitStack())
