"""Local port forwards over one pinned SSH session: how migrate reaches a host's private services.

The vps stack admits Postgres and Redis only from the app hosts (DOCKER-USER rules), so the
machine running migrate reaches them the way an operator would: ``ssh -L``. Each forward
listens on a fresh port of 127.0.0.1 and carries every connection made to it over a
``direct-tcpip`` channel of the same paramiko session (the host key pinned, as for the
stack's scripts), to the address the service's URL names as the host itself sees it.
Nothing is started on the host and nothing is left there: closing the session ends it all.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import TYPE_CHECKING

import paramiko

from providers.vps.ssh import CONNECT_TIMEOUT, Session, SshError

if TYPE_CHECKING:
    from providers.vps.ssh import Endpoint

CHUNK = 1 << 16


class Tunnel:
    """One SSH session to a host and the local forwards opened through it."""

    def __init__(self, endpoint: Endpoint) -> None:
        if not endpoint.host_key:
            raise SshError(f"{endpoint.label}: no pinned host key for the data tunnel (give host_key, or `migrate up`)")
        self.endpoint = endpoint
        self.session = Session(endpoint)
        transport = self.session.client.get_transport()
        assert transport is not None
        transport.set_keepalive(15)
        self.transport: paramiko.Transport = transport
        self._listeners: list[socket.socket] = []
        self._closed = threading.Event()

    def forward(self, remote_host: str, remote_port: int) -> tuple[str, int]:
        """A local ``(address, port)`` whose connections reach ``remote_host:remote_port`` from the host."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        self._listeners.append(listener)
        threading.Thread(
            target=self._accept, args=(listener, remote_host, remote_port), daemon=True, name="vps-tunnel"
        ).start()
        address, port = listener.getsockname()
        return str(address), int(port)

    def _accept(self, listener: socket.socket, remote_host: str, remote_port: int) -> None:
        while not self._closed.is_set():
            try:
                client, origin = listener.accept()
            except OSError:
                return  # the listener was closed
            try:
                channel = self.transport.open_channel(
                    "direct-tcpip", (remote_host, remote_port), origin, timeout=CONNECT_TIMEOUT
                )
            except (paramiko.SSHException, OSError, EOFError):
                client.close()  # the client sees the connection refused, as the service would
                continue
            threading.Thread(target=_pump, args=(client, channel), daemon=True, name="vps-tunnel-pump").start()

    def close(self) -> None:
        self._closed.set()
        for listener in self._listeners:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)  # wakes the accept (close alone leaves it listening)
            listener.close()
        self.session.close()

    def __enter__(self) -> Tunnel:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _pump(client: socket.socket, channel: paramiko.Channel) -> None:
    """Copy bytes both ways, one thread per direction (a single loop could block sending one
    way while the other way's window is full), passing each side's end-of-file on as a
    half-close, until both directions have ended."""
    upstream = threading.Thread(target=_client_to_channel, args=(client, channel), daemon=True)
    upstream.start()
    try:
        while data := channel.recv(CHUNK):
            client.sendall(data)
        with contextlib.suppress(OSError):
            client.shutdown(socket.SHUT_WR)
        upstream.join()
    except (OSError, paramiko.SSHException, EOFError):
        pass  # a reset on either side: close both, which ends the other direction too
    finally:
        with contextlib.suppress(OSError, EOFError):
            channel.close()
        with contextlib.suppress(OSError):
            client.close()


def _client_to_channel(client: socket.socket, channel: paramiko.Channel) -> None:
    try:
        while data := client.recv(CHUNK):
            channel.sendall(data)
        channel.shutdown_write()
    except (OSError, paramiko.SSHException, EOFError):
        with contextlib.suppress(OSError, EOFError):
            channel.close()
