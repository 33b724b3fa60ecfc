"""Run by a drill at a fault point: which live processes hold a planted secret in their environment.

    python -m tests.failover.env_scan PLANTED.json OUT.json

PLANTED.json maps variable names to the values planted in the operator's environment. The
scan skips itself and its ancestors (the drill, which is the operator's own process); a
process that is migrate itself (the media follower) may hold only PULUMI_CONFIG_PASSPHRASE.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

ENGINE_MAY_HOLD = {"PULUMI_CONFIG_PASSPHRASE"}


def ancestors() -> set[int]:
    found, pid = set(), os.getpid()
    while pid > 1:
        found.add(pid)
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            break
        pid = int(stat.rsplit(")", 1)[1].split()[1])
    return found


def main(planted_file: str, out_file: str) -> None:
    planted: dict[str, str] = json.loads(Path(planted_file).read_text())
    skip = ancestors()
    leaks, scanned = [], 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in skip:
            continue
        try:
            environ = (entry / "environ").read_bytes()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        scanned += 1
        is_migrate = " -m migrate " in f" {command} "
        for name, value in planted.items():
            if value.encode() in environ and not (is_migrate and name in ENGINE_MAY_HOLD):
                leaks.append({"pid": int(entry.name), "variable": name, "command": command[:200]})
    Path(out_file).write_text(json.dumps({"scanned": scanned, "leaks": leaks}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
