"""Real DNS servers (BIND, Knot, PowerDNS) on a loopback address, for tests and the sandbox.

Each launcher writes its configuration and a zone into a directory, starts the daemon
detached (its own session, so the sandbox's servers outlive the CLI that started them),
waits until it answers the zone's SOA, and stops it by the pid kept in its directory.
"""

from __future__ import annotations

import os
import random
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from migrate.errors import MigrateError
from providers.local.servers import process


@dataclass
class ZoneSeed:
    """What a fresh zone holds: SOA, NS records for the given servers (with glue), extras."""

    zone: str
    nameservers: list[tuple[str, str]]  # (label, IPv4 address), e.g. ("ns1", "127.0.53.1")
    extra: str = ""  # zone-file lines, relative to the origin
    ttl: int = 300

    def text(self) -> str:
        origin = self.zone.rstrip(".") + "."
        first = self.nameservers[0][0] if self.nameservers else "ns1"
        lines = [
            f"$ORIGIN {origin}",
            f"$TTL {self.ttl}",
            f"@ IN SOA {first}.{origin} hostmaster.{origin} 1 3600 600 86400 {min(self.ttl, 60)}",
        ]
        for label, _ in self.nameservers:
            lines.append(f"@ IN NS {label}.{origin}")
        for label, address in self.nameservers:
            lines.append(f"{label} IN A {address}")
        return "\n".join(lines) + "\n" + self.extra.strip() + "\n"


@dataclass
class TsigSpec:
    name: str
    secret: str
    algorithm: str = "hmac-sha256"


def new_tsig_secret() -> str:
    import base64

    return base64.b64encode(os.urandom(32)).decode()


def port_free(address: str, port: int) -> bool:
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind((address, port))
            except OSError:
                return False
    return True


def free_loopback_address(port: int = 53) -> str:
    """A random 127.x.y.z where ``port`` is free on UDP and TCP (parallel runs don't collide)."""
    for _ in range(200):
        octets = (random.randint(100, 199), random.randint(0, 255), random.randint(2, 254))
        address = "127.{}.{}.{}".format(*octets)
        if port_free(address, port):
            return address
    raise MigrateError(f"no free loopback address for port {port}")


@dataclass
class DnsServer:
    """Base launcher. Subclasses write config and name the command."""

    directory: Path
    zone: ZoneSeed
    tsig: TsigSpec
    address: str = "127.0.0.1"
    port: int = 53
    extra_zones: list[ZoneSeed] = field(default_factory=list)

    kind: ClassVar[str] = "dns"

    @property
    def pid_file(self) -> Path:
        return self.directory / "launcher.pid"

    @property
    def log_file(self) -> Path:
        return self.directory / "server.log"

    @property
    def where(self) -> str:
        return f"{self.address}:{self.port}"

    def prepare(self) -> None:
        raise NotImplementedError

    def command(self) -> list[str]:
        raise NotImplementedError

    def zones(self) -> list[ZoneSeed]:
        return [self.zone, *self.extra_zones]

    def start(self, timeout: float = 15.0) -> DnsServer:
        self.directory = self.directory.resolve()  # the daemon runs with cwd=directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.directory.chmod(0o700)
        if self.running():
            return self
        self.prepare()
        pid = process.spawn(self.command(), self.log_file, cwd=self.directory)
        self.pid_file.write_text(str(pid))
        self.wait_ready(timeout, pid)
        return self

    def answers(self) -> bool:
        """True when the server answers the zone's SOA with data."""
        import dns.message
        import dns.query
        import dns.rcode

        query = dns.message.make_query(self.zone.zone.rstrip(".") + ".", "SOA")
        try:
            answer = dns.query.udp(query, self.address, port=self.port, timeout=0.3)
        except Exception:
            return False
        return answer.rcode() == dns.rcode.NOERROR and bool(answer.answer)

    def wait_ready(self, timeout: float, pid: int) -> None:
        try:
            process.wait_until(
                self.answers, what=f"{self.kind} on {self.where}", timeout=timeout, pid=pid, log_path=self.log_file
            )
        except MigrateError:
            self.stop()
            raise

    @property
    def pid(self) -> int | None:
        return process.read_pid(self.pid_file)

    def running(self) -> bool:
        return process.alive(self.pid)

    def stop(self, timeout: float = 10.0) -> None:
        process.stop(self.pid, timeout=timeout)
        self.pid_file.unlink(missing_ok=True)

    def kill(self) -> None:
        """Stop abruptly (a server dying mid-swing)."""
        process.kill(self.pid)
        self.pid_file.unlink(missing_ok=True)

    def __enter__(self) -> DnsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (configs hold the TSIG secret)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def launcher(kind: str) -> type[DnsServer]:
    """``bind`` | ``knot`` | ``pdns`` -> its launcher class."""
    if kind == "bind":
        from providers.local.servers.bind import BindServer

        return BindServer
    if kind == "knot":
        from providers.local.servers.knot import KnotServer

        return KnotServer
    if kind == "pdns":
        from providers.local.servers.pdns import PowerDnsServer

        return PowerDnsServer
    raise MigrateError(f"unknown DNS server kind {kind!r} (bind, knot, pdns)")
