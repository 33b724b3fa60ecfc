"""One SSH session to a host (paramiko): pinned or first-use host keys, scripts on stdin.

Why paramiko: it is synchronous like Pulumi's dynamic-provider methods (no event loop to
run inside the engine's gRPC threads), maintained, and needs no plugin. A script always
travels on the channel's stdin into ``sh -es`` (through ``sudo -n`` for a non-root user), so
nothing of it -- secrets included -- is on a command line, in the environment or in the
host's process list.
"""

from __future__ import annotations

import base64
import io
import logging
import re
from dataclasses import dataclass

import paramiko

CONNECT_TIMEOUT = 15.0
# paramiko logs a traceback of its own for a failed handshake; we raise one line instead.
logging.getLogger("paramiko").setLevel(logging.CRITICAL)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


class SshError(Exception):
    """A one-line failure naming the host; never a traceback, never the script."""


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    user: str
    private_key: str
    # "type base64" (a known_hosts line's key part); None = trust on first use.
    host_key: str | None = None

    @property
    def label(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"


def key_text(key: paramiko.PKey) -> str:
    return f"{key.get_name()} {key.get_base64()}"


def parse_host_key(line: str) -> tuple[str, str]:
    """``(type, base64)`` from a known_hosts line, an ``.pub`` line or ``type base64``."""
    parts = line.split()
    for index, part in enumerate(parts[:-1]):
        if part.startswith(("ssh-", "ecdsa-", "sk-")):
            blob = parts[index + 1]
            try:
                base64.b64decode(blob, validate=True)
            except ValueError as exc:
                raise SshError(f"host_key: {part} key is not base64") from exc
            return part, blob
    raise SshError("host_key: expected a known_hosts line such as 'ssh-ed25519 AAAA...'")


def load_private_key(text: str, label: str) -> paramiko.PKey:
    for kind in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return kind.from_private_key(io.StringIO(text))
        except (paramiko.SSHException, ValueError, IndexError):
            continue
    raise SshError(f"{label}: private_key is not an unencrypted OpenSSH/PEM private key")


class _FirstUse(paramiko.MissingHostKeyPolicy):
    """Accept the key the host presents and remember it (the caller records it in state)."""

    def __init__(self) -> None:
        self.seen: paramiko.PKey | None = None

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        self.seen = key


@dataclass
class Result:
    status: int
    stdout: str
    stderr: str


class Session:
    """An authenticated connection; ``host_key`` is the key the host proved it holds."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.client = paramiko.SSHClient()
        lookup = endpoint.host if endpoint.port == 22 else f"[{endpoint.host}]:{endpoint.port}"
        policy: paramiko.MissingHostKeyPolicy
        if endpoint.host_key:
            kind, blob = parse_host_key(endpoint.host_key)
            self.client.get_host_keys().add(lookup, kind, paramiko.PKey.from_type_string(kind, base64.b64decode(blob)))
            policy = paramiko.RejectPolicy()
        else:
            policy = _FirstUse()
        self.client.set_missing_host_key_policy(policy)
        key = load_private_key(endpoint.private_key, endpoint.label)
        try:
            self.client.connect(
                endpoint.host,
                port=endpoint.port,
                username=endpoint.user,
                pkey=key,
                timeout=CONNECT_TIMEOUT,
                banner_timeout=CONNECT_TIMEOUT,
                auth_timeout=CONNECT_TIMEOUT,
                allow_agent=False,
                look_for_keys=False,
            )
        except paramiko.BadHostKeyException as exc:
            raise SshError(
                f"{endpoint.label}: host key changed: presented {exc.key.get_name()} "
                f"{exc.key.get_fingerprint().hex()}, pinned {endpoint.host_key.split()[0] if endpoint.host_key else ''}"
                " (refusing to connect; update host_key if the host was rebuilt)"
            ) from None
        except paramiko.AuthenticationException:
            raise SshError(f"{endpoint.label}: the host refused the private key") from None
        except paramiko.SSHException as exc:
            raise SshError(f"{endpoint.label}: SSH failed: {_clean(str(exc))}") from None
        except (TimeoutError, OSError) as exc:
            raise SshError(f"{endpoint.label}: cannot connect: {_clean(str(exc)) or type(exc).__name__}") from None
        transport = self.client.get_transport()
        assert transport is not None
        self.host_key = key_text(transport.get_remote_server_key())

    def run_script(self, script: str, timeout: float = 900.0) -> Result:
        """Run ``script`` with ``sh -es`` (as root through ``sudo -n`` when not root)."""
        command = "sh -es" if self.endpoint.user == "root" else "sudo -n sh -es"
        transport = self.client.get_transport()
        assert transport is not None
        channel = transport.open_session(timeout=CONNECT_TIMEOUT)
        channel.settimeout(timeout)
        channel.exec_command(command)
        channel.sendall(script.encode())
        channel.shutdown_write()
        out, err = bytearray(), bytearray()
        try:
            while True:
                if channel.recv_ready():
                    out += channel.recv(65536)
                elif channel.recv_stderr_ready():
                    err += channel.recv_stderr(65536)
                elif channel.exit_status_ready() and not channel.recv_ready() and not channel.recv_stderr_ready():
                    break
                else:
                    channel.status_event.wait(0.05)
        except TimeoutError:
            raise SshError(f"{self.endpoint.label}: script still running after {timeout:.0f} s") from None
        status = channel.recv_exit_status()
        channel.close()
        return Result(status, out.decode(errors="replace"), err.decode(errors="replace"))

    def check(self, script: str, what: str, timeout: float = 900.0) -> Result:
        result = self.run_script(script, timeout)
        if result.status != 0:
            tail = " | ".join(_clean(line) for line in result.stderr.strip().splitlines()[-3:])
            raise SshError(f"{self.endpoint.label}: {what} exited {result.status}: {tail[:400]}")
        return result

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _clean(text: str) -> str:
    return _CONTROL.sub("?", text).strip()
