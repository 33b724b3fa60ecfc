"""Faults the failover tests inject through MIGRATE_FAULT_AT/MIGRATE_FAULT_RUN: real parts, real kills.

Run as ``python -m tests.failover.faults kill-dns DIR`` (SIGKILL the DNS server whose files are
in DIR), ``... terminate-while-restoring SPEC TARGET ADDRESS`` (wait until pg_restore writes
into ADDRESS, then terminate TARGET at once, in this process, so the restore is truly cut),
``... kill-migrate PID RECORD`` (SIGKILL the ``migrate`` process PID — the engine runs the fault
command through ``sh -c``, so ``$PPID`` names it — after writing to RECORD, as JSON, which of its
child processes share its session: those are the ones that could outlive it as orphans), or
``... kill-migrate-while-restoring PID ADDRESS RECORD`` (the same, once PID's pg_restore writes
into ADDRESS).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Callable
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


def stat_of(pid: int) -> tuple[int, int, int, str] | None:
    """(parent pid, session id, start time, state) of a process, or None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()  # after "pid (comm) ": state is field 3
    return int(fields[1]), int(fields[3]), int(fields[19]), fields[0]


def _argv(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def session_descendants(root: int) -> list[dict[str, object]]:
    """Every live descendant of ``root`` in ``root``'s own session (not this fault process's chain).

    Servers a step starts (Postgres, the app, the holding page) run in sessions of their own and
    are meant to outlive migrate; anything left in its session is a helper (pg_restore, the
    Pulumi CLI) that must die with it.
    """
    root_stat = stat_of(root)
    if root_stat is None:
        return []
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        found = stat_of(int(entry.name))
        if found is not None:
            children.setdefault(found[0], []).append(int(entry.name))
    mine = {os.getpid(), os.getppid()}
    result, queue = [], list(children.get(root, []))
    while queue:
        pid = queue.pop()
        queue.extend(children.get(pid, []))
        found = stat_of(pid)
        if pid in mine or found is None or found[1] != root_stat[1] or found[3] == "Z":
            continue
        result.append({"pid": pid, "start": found[2], "argv": _argv(pid)})
    return result


def kill_migrate(pid: int, record: str) -> None:
    if "migrate" not in _argv(pid):
        raise SystemExit(f"process {pid} is not migrate: {_argv(pid)!r}")
    helpers = session_descendants(pid)
    Path(record).write_text(json.dumps({"pid": pid, "helpers": helpers}))
    os.kill(pid, signal.SIGKILL)


def _kill_migrate_when(pid: int, record: str, ready: Callable[[], bool], what: str, timeout: float) -> None:
    """Poll every 10 ms until ``ready()``, then SIGKILL migrate; fail if migrate ends first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            kill_migrate(pid, record)
            return
        if stat_of(pid) is None:
            raise SystemExit(f"migrate ({pid}) ended before {what}")
        time.sleep(0.01)
    raise SystemExit(f"not within {timeout:.0f}s: {what}")


def kill_migrate_while_restoring(pid: int, address: str, record: str, timeout: float = 120.0) -> None:
    def restoring() -> bool:
        return any(
            "pg_restore" in str(p["argv"]) and f"@{address}:" in str(p["argv"]) for p in session_descendants(pid)
        )

    _kill_migrate_when(pid, record, restoring, f"a pg_restore into {address}", timeout)


def kill_migrate_while_provisioning(pid: int, address: str, record: str, timeout: float = 300.0) -> None:
    """Once the update PID asked for is under way: the target's first server listens on ADDRESS."""
    from tests.engine.helpers import listening_ports

    _kill_migrate_when(pid, record, lambda: bool(listening_ports(address)), f"a server listening on {address}", timeout)


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    if command == "kill-dns":
        kill_dns(*args)
    elif command == "terminate-while-restoring":
        terminate_while_restoring(args[0], args[1], args[2])
    elif command == "kill-migrate":
        kill_migrate(int(args[0]), args[1])
    elif command == "kill-migrate-while-restoring":
        kill_migrate_while_restoring(int(args[0]), args[1], args[2])
    elif command == "kill-migrate-while-provisioning":
        kill_migrate_while_provisioning(int(args[0]), args[1], args[2])
    else:
        raise SystemExit(f"unknown fault {command!r}")
