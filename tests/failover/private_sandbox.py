"""A private copy of an example app's spec (chirp's by default) for the failover tests: random loopback
addresses for both targets and both sandbox DNS servers, its own MIGRATE_HOME, so nothing collides with anyone."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import CHIRP_SPEC, run_cli
from tests.engine.helpers import free_loopback_address, listening_ports

NOTHING_LEFT: dict[str, Any] = {"listeners": {}, "processes": [], "sandbox dirs": [], "loopback addresses": []}


@dataclass
class PrivateSandbox:
    base: Path
    spec: Path
    env: dict[str, str]
    a: str
    b: str
    nameservers: tuple[str, str]  # BIND's, Knot's

    @property
    def home(self) -> Path:
        return self.base / "home"

    def cli(self, *args: str, env: dict[str, str] | None = None, timeout: float = 600) -> Any:
        return run_cli("-f", str(self.spec), *args, env={**self.env, **(env or {})}, cwd=self.base, timeout=timeout)

    def drill(
        self,
        *options: str,
        load_seconds: float = 3,
        rate: float = 40,
        seed_mb: int = 1,
        media_mb: int = 1,
        env: dict[str, str] | None = None,
        timeout: float = 900,
    ) -> Any:
        """``migrate drill`` local-a → local-b, reports under the sandbox, one JSON document."""
        return self.cli(
            "drill",
            "--from",
            "local-a",
            "--to",
            "local-b",
            "--load-seconds",
            str(load_seconds),
            "--rate",
            str(rate),
            "--seed-mb",
            str(seed_mb),
            "--media-mb",
            str(media_mb),
            "--reports",
            str(self.base / "reports"),
            "--json",
            *options,
            env=env,
            timeout=timeout,
        )

    def leftovers(self, dns_dirs: bool = True) -> dict[str, Any]:
        """What of this sandbox still exists: listeners, processes, directories, lo addresses.
        (``migrate dns sandbox down`` keeps the servers' zones on disk: ``dns_dirs=False``.)"""
        addresses = (self.a, self.b, *self.nameservers)
        return {
            "listeners": {addr: ports for addr in addresses if (ports := listening_ports(addr))},
            "processes": processes_mentioning(str(self.base)),
            "sandbox dirs": [
                str(p)
                for p in [
                    *(self.home / "sandbox").glob("local-*"),
                    *((self.home / "sandbox" / "dns").glob("*") if dns_dirs else []),
                ]
            ],
            "loopback addresses": [addr for addr in self.nameservers if on_lo(addr)],
        }

    def tear_down_pair(self) -> None:
        """The end of a test module that deployed both targets: every part goes, or the test fails."""
        for target in ("local-a", "local-b"):
            self.cli("holding-page", "down", "--on", target)
            destroyed = self.cli("destroy", "--target", target, "--yes", "--json")
            assert destroyed.returncode == 0, destroyed.stderr[-3000:]
        stopped = self.cli("dns", "sandbox", "down", "--json")
        assert stopped.returncode == 0, stopped.stderr[-3000:]
        assert self.leftovers(dns_dirs=False) == NOTHING_LEFT

    def clean_up(self) -> None:
        """Last resort after a failed test: destroy both stacks, stop the DNS servers, remove all."""
        if self.leftovers(dns_dirs=False) != NOTHING_LEFT:
            run_cli("-f", str(self.spec), "holding-page", "down", "--on", "local-a", env=self.env, cwd=self.base)
            run_cli("-f", str(self.spec), "holding-page", "down", "--on", "local-b", env=self.env, cwd=self.base)
            for target in ("local-a", "local-b"):
                self.cli("destroy", "--target", target, "--yes", timeout=300)
            self.cli("dns", "sandbox", "down", timeout=60)
        shutil.rmtree(self.base, ignore_errors=True)


def private_sandbox(prefix: str, spec_path: Path = CHIRP_SPEC, env: dict[str, str] | None = None) -> PrivateSandbox:
    """A copy of the app's spec (chirp's unless told) with its own addresses and home; the
    app's other files (its code) are linked in beside it."""
    # Under /tmp with o+x: the postgres user must traverse to its data directory.
    base = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    base.chmod(0o755)
    for item in spec_path.parent.iterdir():
        if item != spec_path and not item.name.startswith((".", "__")):
            (base / item.name).symlink_to(item)
    a = free_loopback_address()
    b = _other(a)
    bind_ns = _dns_address({a, b})
    knot_ns = _dns_address({a, b, bind_ns})
    document = yaml.safe_load(spec_path.read_text())
    document["targets"] = {
        "local-a": {"provider": "local", "address": a},
        "local-b": {"provider": "local", "address": b},
    }
    tsig = {"name": "drill-test", "secret": {"file": str(base / "tsig.secret")}}
    document["dns_providers"] = {
        "sandbox-bind": {"provider": "rfc2136", "sandbox": "bind", "server": bind_ns, "tsig": tsig},
        "sandbox-knot": {"provider": "rfc2136", "sandbox": "knot", "server": knot_ns, "tsig": tsig},
    }
    spec = base / "migrate.yaml"
    spec.write_text(yaml.safe_dump(document, sort_keys=False))
    own = env if env is not None else {"CHIRP_SESSION_KEY": secrets.token_urlsafe(24)}
    return PrivateSandbox(base, spec, {"MIGRATE_HOME": str(base / "home"), **own}, a, b, (bind_ns, knot_ns))


@contextmanager
def deployed_pair(prefix: str) -> Iterator[PrivateSandbox]:
    """A private sandbox with both targets up and its DNS sending users to local-a (each step
    must succeed); every part of it torn down after a clean exit, cleaned up after any."""
    sb = private_sandbox(prefix)
    try:
        ok(sb.cli("up", "--to", "local-a", "--json"))
        ok(sb.cli("up", "--to", "local-b", "--json"))
        ok(sb.cli("dns", "sandbox", "up", "--json"))
        ok(sb.cli("dns", "swing", "--to", "local-a", "--json"))
        yield sb
        sb.tear_down_pair()
    finally:
        sb.clean_up()


def ok(result: Any) -> dict[str, Any]:
    """A CLI run that must have succeeded: its JSON answer (``{}`` where it printed none)."""
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stderr[-4000:]}"
    document: dict[str, Any] = json.loads(result.stdout) if result.stdout.strip() else {}
    return document


def _other(taken: str) -> str:
    while (address := free_loopback_address()) == taken:
        pass
    return address


def _dns_address(taken: set[str]) -> str:
    for _ in range(100):
        address = free_loopback_address()[:-1] + "53"
        if address not in taken and not listening_ports(address):
            return address
    raise RuntimeError("no free loopback address for a DNS server")


def processes_mentioning(text: str) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        if cmdline.parent.name == str(os.getpid()):
            continue
        try:
            argv = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in argv:
            found.append(f"{cmdline.parent.name}: {argv[:200]}")
    return found


def on_lo(address: str) -> bool:
    shown = subprocess.run(["ip", "-o", "addr", "show", "dev", "lo"], capture_output=True, text=True, check=False)
    return f" {address}/" in shown.stdout
