"""BIND 9 (``named -g``) serving zones on one loopback address, updatable with a TSIG key.

BIND listens only on addresses its interface scan finds, and Linux puts just 127.0.0.1 on
``lo``: any other 127.x address is added to ``lo`` first (root) and removed on stop.
"""

from __future__ import annotations

import ipaddress
import subprocess
from pathlib import Path
from typing import ClassVar

from migrate.childenv import child_env
from migrate.errors import MigrateError
from providers.local.servers.dns import DnsServer, write_private


def _on_lo(address: str) -> bool:
    result = subprocess.run(
        ["ip", "-o", "addr", "show", "dev", "lo"], capture_output=True, text=True, check=False, env=child_env()
    )
    return f" {address}/" in result.stdout


def ensure_loopback_address(address: str) -> bool:
    """Put ``address`` (127/8 only) on ``lo`` if missing; True when we added it."""
    if not ipaddress.IPv4Address(address).is_loopback:
        raise MigrateError(f"refusing to add non-loopback address {address} to lo")
    if address == "127.0.0.1" or _on_lo(address):
        return False
    result = subprocess.run(
        ["ip", "addr", "add", f"{address}/32", "dev", "lo"],
        capture_output=True,
        text=True,
        check=False,
        env=child_env(),
    )
    if result.returncode != 0 and not _on_lo(address):
        raise MigrateError(f"cannot add {address} to lo for BIND (needs root): {result.stderr.strip()}")
    return result.returncode == 0


def remove_loopback_address(address: str) -> None:
    subprocess.run(
        ["ip", "addr", "del", f"{address}/32", "dev", "lo"], capture_output=True, check=False, env=child_env()
    )


class BindServer(DnsServer):
    kind: ClassVar[str] = "bind"

    @property
    def _address_marker(self) -> Path:
        return self.directory / "added-address"

    def prepare(self) -> None:
        d = self.directory
        if ensure_loopback_address(self.address):
            self._address_marker.write_text(self.address)
        key = self.tsig
        zones = []
        for seed in self.zones():
            name = seed.zone.rstrip(".")
            path = d / f"{name}.zone"
            if not path.exists():  # keep a zone (and its journal) across restarts
                path.write_text(seed.text())
            zones.append(
                f'zone "{name}" {{ type primary; file "{path}"; '
                f'allow-update {{ key "{key.name}"; }}; allow-transfer {{ key "{key.name}"; }}; }};'
            )
        write_private(
            d / "named.conf",
            f"""key "{key.name}" {{ algorithm {key.algorithm}; secret "{key.secret}"; }};
options {{
    directory "{d}";
    listen-on port {self.port} {{ {self.address}; }};
    listen-on-v6 {{ none; }};
    recursion no;
    pid-file "{d}/named.pid";
    session-keyfile "{d}/session.key";
    managed-keys-directory "{d}";
    dnssec-validation no;
    notify no;
}};
controls {{ }};
"""
            + "\n".join(zones)
            + "\n",
        )

    def stop(self, timeout: float = 10.0) -> None:
        super().stop(timeout)
        if self._address_marker.exists():
            remove_loopback_address(self._address_marker.read_text().strip())
            self._address_marker.unlink()

    def kill(self) -> None:
        super().kill()

    def command(self) -> list[str]:
        return ["named", "-g", "-c", str(self.directory / "named.conf")]
