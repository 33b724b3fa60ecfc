"""Faults the failover tests inject through MIGRATE_FAULT_AT/MIGRATE_FAULT_RUN: real parts, real kills.

Run as ``python -m tests.failover.faults kill-dns DIR`` (SIGKILL the DNS server whose files are
in DIR) or ``... terminate-while-restoring SPEC TARGET ADDRESS`` (wait until pg_restore writes
into ADDRESS, then terminate TARGET at once, in this process, so the restore is truly cut).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path


def _processes_with(text: str) -> dict[int, str]:
    """pid → command line, of every process whose command line contains ``text`` (not this one)."""
    found = {}
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in argv and int(cmdline.parent.name) != os.getpid():
            found[int(cmdline.parent.name)] = argv
    return found


def kill_dns(directory: str) -> None:
    pids = list(_processes_with(directory))
    if not pids:
        raise SystemExit(f"no DNS server runs from {directory}")
    for pid in pids:
        os.kill(pid, signal.SIGKILL)


def terminate_while_restoring(spec_path: str, target: str, address: str, timeout: float = 120.0) -> None:
    from migrate.chaos import terminate
    from migrate.spec.loader import load_spec

    spec = load_spec(spec_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any("pg_restore" in argv for argv in _processes_with(f"@{address}:").values()):
            killed = terminate(spec, target)
            Path(spec_path).with_name("terminated-while-restoring").write_text(str(len(killed.killed)))
            return
        time.sleep(0.005)
    raise SystemExit(f"no pg_restore into {address} within {timeout:.0f}s")


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    if command == "kill-dns":
        kill_dns(*args)
    elif command == "terminate-while-restoring":
        terminate_while_restoring(args[0], args[1], args[2])
    else:
        raise SystemExit(f"unknown fault {command!r}")
