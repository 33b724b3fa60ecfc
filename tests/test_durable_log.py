"""The one durable log every journal stands on: whole records survive a torn write, files
are private, one process holds the lock, secrets are masked."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap

import pytest

from migrate.durable_log import DurableLog
from migrate.errors import MigrateError
from migrate.redact import register_secret
from tests.conftest import REPO


def test_torn_tail_is_skipped_then_ended_by_the_next_writer(tmp_path):
    path = tmp_path / "j" / "log.jsonl"
    first = DurableLog(path)
    first.append({"n": 1}, {"n": 2})
    first.close()
    with open(path, "ab") as handle:  # a writer killed mid-line
        handle.write(b'{"n": 3, "hal')
    assert [r["n"] for r in DurableLog(path).records()] == [1, 2]
    second = DurableLog(path)
    second.append({"n": 4})
    second.close()
    assert [r["n"] for r in DurableLog(path).records()] == [1, 2, 4]
    assert path.read_bytes().count(b"\n") == 4  # the torn line was ended, not glued to n=4


def test_a_killed_process_leaves_every_acknowledged_record(tmp_path):
    """Records appended before SIGKILL are all there: append returns only after fsync."""
    path = tmp_path / "log.jsonl"
    code = textwrap.dedent(f"""
        import os, signal, sys
        from pathlib import Path
        from migrate.durable_log import DurableLog
        log = DurableLog(Path({str(path)!r}))
        for n in range(50):
            log.append({{"n": n}})
            print(n, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={"PYTHONPATH": str(REPO)})
    assert out.returncode == -9
    acknowledged = [int(x) for x in out.stdout.split()]
    assert [r["n"] for r in DurableLog(path).records()] == acknowledged == list(range(50))


def test_files_are_private_and_secrets_masked(tmp_path):
    register_secret("hunter2-planted-secret")
    path = tmp_path / "new" / "log.jsonl"
    log = DurableLog(path)
    stored = log.append({"password": "hunter2-planted-secret"})
    log.close()
    assert "hunter2-planted-secret" not in path.read_text()
    assert stored[0]["password"] != "hunter2-planted-secret"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700


def test_one_process_holds_the_lock(tmp_path):
    path = tmp_path / "log.jsonl"
    holder = DurableLog(path)
    holder.lock("run r1")
    code = (
        "import sys; from pathlib import Path; from migrate.durable_log import DurableLog;"
        f"DurableLog(Path({str(path)!r})).lock('run r1')"
    )
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={"PYTHONPATH": str(REPO)})
    assert other.returncode != 0 and "run r1 is being run by another process" in other.stderr
    holder.close()
    again = DurableLog(path)
    again.lock("run r1")  # released on close
    again.close()
    with pytest.raises(MigrateError):
        second = DurableLog(path)
        second.lock("x")
        DurableLog(path).lock("run r1")
