"""Where a local sandbox target lives: its directory, its address, its pid files.

Shared by the dynamic providers (which create it), ``migrate chaos`` (which kills it)
and the engine (which reports on it). Nothing here imports Pulumi.

A target's network identity is its own address in 127.0.0.0/8. Linux routes the whole
block to the loopback interface, so any 127.x.y.z can be bound without configuring
anything: there is no address to add or remove, and an address "stops answering" when
nothing of its target listens on it any more.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from migrate.home import migrate_home

POSTGRES_PORT = 5432
S3_PORT = 9000
S3_EVENTS_PORT = 7000  # the S3 server's event listener (below the app ports, 8001 + 100*k)
REDIS_PORT = 6379
FIRST_APP_PORT = 8001


def sandbox_dir(target: str, base_dir: str | None = None) -> Path:
    """The target's data directory: ``base_dir`` if the spec sets it, else under MIGRATE_HOME."""
    if base_dir:
        return Path(base_dir).expanduser().resolve()
    return migrate_home() / "sandbox" / target


def derived_address(target: str) -> str:
    """A stable 127.x.y.1 for a target whose settings give no address (never 127.0.0.x)."""
    digest = hashlib.sha256(target.encode()).digest()
    return f"127.{1 + digest[0] % 254}.{digest[1]}.1"


def target_address(target: str, address: str | None) -> str:
    return address or derived_address(target)


def files_dir(sandbox: Path, process: str, replica: int) -> Path:
    """Where replica ``replica`` of ``process`` finds its config files (spec ``files:``)."""
    return sandbox / "files" / f"{process}-{replica}"


def run_dir(sandbox: Path) -> Path:
    """Pid files of every process of the target, one file per process: ``pid starttime``."""
    return sandbox / "run"


def write_pid(sandbox: Path, name: str, pid: int) -> None:
    directory = run_dir(sandbox)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{name}.pid").write_text(f"{pid} {start_time(pid) or 0}\n")


def remove_pid(sandbox: Path, name: str) -> None:
    (run_dir(sandbox) / f"{name}.pid").unlink(missing_ok=True)


def recorded_pids(sandbox: Path) -> dict[str, int]:
    """Every process the target's pid files name that is still the same process."""
    found: dict[str, int] = {}
    directory = run_dir(sandbox)
    if not directory.is_dir():
        return found
    for path in sorted(directory.glob("*.pid")):
        try:
            pid_text, _, started = path.read_text().strip().partition(" ")
            pid = int(pid_text)
        except (OSError, ValueError):
            continue
        if same_process(pid, int(started or 0)):
            found[path.stem] = pid
    return found


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot: tells a pid's reuse apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    if fields[0] == "Z":
        return None
    return int(fields[19])


def same_process(pid: int, started: int) -> bool:
    """True if ``pid`` runs and is the process that started at ``started`` (0: any)."""
    now = start_time(pid)
    return now is not None and (started == 0 or now == started)
