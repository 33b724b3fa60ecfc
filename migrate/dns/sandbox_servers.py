"""The local sandbox's DNS servers: one real BIND/Knot/PowerDNS per ``sandbox:`` provider.

Each serves the spec's zone with an SOA and NS records ns1, ns2, ... pointing at the
sandbox servers' addresses, so nameserver discovery from NS records works for real. The
TSIG secret is created in the file the spec names (mode 0600) if it does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from migrate.errors import InputError
from migrate.home import migrate_home

if TYPE_CHECKING:
    from migrate.spec.model import ServiceSpec
    from providers.local.servers.dns import DnsServer


@dataclass
class SandboxServer:
    provider: str
    kind: str
    address: str
    port: int
    running: bool
    directory: Path

    def to_json(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "kind": self.kind,
            "address": self.address,
            "port": self.port,
            "running": self.running,
            "directory": str(self.directory),
        }


def _sandboxed(spec: ServiceSpec) -> list[tuple[str, Any]]:
    out = [(n, s) for n, s in spec.dns_providers.items() if getattr(s, "sandbox", None)]
    if not out:
        raise InputError("no dns_providers entry has sandbox: set (bind, knot or pdns)")
    return out


def _secret(settings: Any, create: bool = True) -> tuple[str, str, str]:
    """The sandbox's TSIG key; made (0600, atomically) on first start, never by a read-only command."""
    from migrate.private_files import write_private_file
    from providers.local.servers.dns import new_tsig_secret

    tsig = settings.tsig
    if tsig is None:
        raise InputError("a sandbox DNS provider needs tsig: {name, secret: {file: PATH}}")
    if tsig.secret.file is not None:
        path = Path(tsig.secret.file).expanduser()
        if not path.exists():
            if not create:
                return tsig.name, "", tsig.algorithm
            write_private_file(path, new_tsig_secret() + "\n")
    return tsig.name, tsig.secret.resolve("sandbox TSIG secret"), tsig.algorithm


def servers(spec: ServiceSpec, create: bool = True) -> list[tuple[str, DnsServer]]:
    from providers.local.servers.dns import TsigSpec, ZoneSeed, launcher

    entries = _sandboxed(spec)
    nameservers = [(f"ns{i + 1}", s.server) for i, (_, s) in enumerate(entries)]
    out = []
    for name, settings in entries:
        key_name, secret, algorithm = _secret(settings, create)
        server = launcher(settings.sandbox)(
            directory=migrate_home() / "sandbox" / "dns" / name,
            zone=ZoneSeed(spec.zone, nameservers),
            tsig=TsigSpec(key_name, secret, algorithm),
            address=settings.server,
            port=settings.port,
        )
        out.append((name, server))
    return out


def up(spec: ServiceSpec) -> list[SandboxServer]:
    return [_started(name, server, True) for name, server in servers(spec)]


def down(spec: ServiceSpec) -> list[SandboxServer]:
    return [_started(name, server, False) for name, server in servers(spec)]


def _started(name: str, server: DnsServer, running: bool) -> SandboxServer:
    """Start (or stop) one sandbox server and describe it."""
    if running:
        server.start()
    else:
        server.stop()
    return SandboxServer(name, server.kind, server.address, server.port, running, server.directory)


def status(spec: ServiceSpec) -> list[SandboxServer]:
    return [
        SandboxServer(name, s.kind, s.address, s.port, s.running() and s.answers(), s.directory)
        for name, s in servers(spec, create=False)
    ]
