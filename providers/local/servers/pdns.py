"""PowerDNS Authoritative (gsqlite3 backend) on one loopback address, with its HTTP API.

Zones are loaded with ``pdnsutil`` before the server starts (zones created while it runs
answer REFUSED until a rediscover); updates by RFC 2136 need per-zone TSIG metadata.
"""

from __future__ import annotations

import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from migrate.childenv import child_env
from migrate.errors import MigrateError
from providers.local.servers.dns import DnsServer, new_tsig_secret, write_private

SCHEMA = Path("/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql")


@dataclass
class PowerDnsServer(DnsServer):
    kind: ClassVar[str] = "pdns"
    api_port: int = 8081
    api_key: str = ""

    @property
    def api_url(self) -> str:
        return f"http://{self.address}:{self.api_port}"

    def _util(self, *args: str) -> None:
        result = subprocess.run(
            ["pdnsutil", f"--config-dir={self.directory}", *args],
            capture_output=True,
            text=True,
            timeout=60,
            env=child_env(),
        )
        if result.returncode != 0:
            raise MigrateError(f"pdnsutil {args[0]}: {result.stderr.strip()[-500:]}")

    def prepare(self) -> None:
        d = self.directory
        if not self.api_key:
            self.api_key = new_tsig_secret()
        db = d / "pdns.sqlite3"
        fresh = not db.exists()
        write_private(
            d / "pdns.conf",
            f"""launch=gsqlite3
gsqlite3-database={db}
local-address={self.address}:{self.port}
daemon=no
guardian=no
socket-dir={d}
api=yes
api-key={self.api_key}
webserver=yes
webserver-address={self.address}
webserver-port={self.api_port}
webserver-allow-from=127.0.0.0/8
dnsupdate=yes
allow-dnsupdate-from=127.0.0.0/8
security-poll-suffix=
default-soa-edit=INCREASE
""",
        )
        if not fresh:
            return
        with sqlite3.connect(db) as connection:
            connection.executescript(SCHEMA.read_text())
        key = self.tsig
        self._util("import-tsig-key", key.name, key.algorithm, key.secret)
        for seed in self.zones():
            name = seed.zone.rstrip(".")
            path = d / f"{name}.zone"
            path.write_text(seed.text())
            self._util("load-zone", name, str(path))
            self.allow_key(name)

    def allow_key(self, zone: str) -> None:
        """Let our TSIG key update and transfer ``zone`` (PowerDNS keeps this per zone)."""
        self._util("set-meta", zone, "TSIG-ALLOW-DNSUPDATE", self.tsig.name)
        self._util("set-meta", zone, "TSIG-ALLOW-AXFR", self.tsig.name)
        self._util("set-meta", zone, "SOA-EDIT-DNSUPDATE", "INCREASE")

    def command(self) -> list[str]:
        return ["pdns_server", f"--config-dir={self.directory}"]
