"""Knot DNS (``knotd``) serving zones on one loopback address, updatable with a TSIG key.

Journal-backed (``zonefile-sync: -1``): updates live in Knot's journal, so batches are
fast, and the zone survives a restart with its changes.
"""

from __future__ import annotations

from typing import ClassVar

from providers.local.servers.dns import DnsServer, write_private


class KnotServer(DnsServer):
    kind: ClassVar[str] = "knot"

    def prepare(self) -> None:
        d = self.directory
        (d / "db").mkdir(exist_ok=True)
        key = self.tsig
        zones = []
        for seed in self.zones():
            name = seed.zone.rstrip(".")
            path = d / f"{name}.zone"
            if not path.exists():
                path.write_text(seed.text())
            zones.append(f"  - domain: {name}\n    file: {path}\n    acl: migrate")
        write_private(
            d / "knot.conf",
            f"""server:
    listen: {self.address}@{self.port}
    rundir: {d}
    pidfile: {d}/knot.pid
key:
  - id: {key.name}
    algorithm: {key.algorithm}
    secret: {key.secret}
acl:
  - id: migrate
    key: {key.name}
    action: [update, transfer]
database:
    storage: {d}/db
template:
  - id: default
    storage: {d}
    zonefile-sync: -1
    zonefile-load: difference-no-serial
    journal-content: all
log:
  - target: stderr
    any: warning
zone:
"""
            + "\n".join(zones)
            + "\n",
        )

    def command(self) -> list[str]:
        return ["knotd", "-c", str(self.directory / "knot.conf")]
