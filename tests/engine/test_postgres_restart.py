"""The sandbox's Postgres comes back after a SIGKILL whose corpse was not reaped yet.

A killed postmaster leaves its socket's lock file naming its pid. Until its parent (often PID 1
here) reaps it, that pid is a zombie that ``kill(pid, 0)`` still finds, and Postgres refuses to
start beside "another postmaster". The test makes such a zombie, owned by the postgres user like
a real postmaster, names it in the lock file of a stopped real cluster, and starts the cluster.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from migrate.errors import MigrateError
from providers.local.servers import process
from providers.local.servers.postgres import RUN_AS, PostgresServer
from providers.local.servers.process import free_port

pytestmark = pytest.mark.slow


@pytest.fixture
def stopped_cluster() -> Iterator[PostgresServer]:
    base = Path(tempfile.mkdtemp(prefix="migrate-pg-restart-", dir="/tmp"))
    base.chmod(0o755)
    server = PostgresServer(base / "pg", "127.0.0.1", free_port(), "restart-pw")
    try:
        server.init()
        server.start()
        server.stop()
        yield server
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


def _zombie_owned_by(user: str) -> subprocess.Popen[bytes]:
    """A child that has exited and is not reaped: /proc still lists it, as state Z."""
    child = subprocess.Popen(["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", "true"])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        state = Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
        if state == "Z":
            return child
        time.sleep(0.01)
    raise AssertionError("the child did not become a zombie")


def test_a_lock_naming_an_unreaped_postmaster_does_not_keep_postgres_down(stopped_cluster: PostgresServer) -> None:
    server = stopped_cluster
    zombie = _zombie_owned_by(RUN_AS)
    try:
        lock = server.socket_dir / f".s.PGSQL.{server.port}.lock"
        lock.write_text(f"{zombie.pid}\n{server.data_dir}\n")
        shutil.chown(lock, RUN_AS, RUN_AS)
        pid = server.start()
        assert process.alive(pid) and server.ready()
        assert lock.exists() and process.read_pid(lock) == pid  # Postgres's own lock now
    finally:
        zombie.wait()


def test_a_lock_naming_a_live_process_is_left_alone(stopped_cluster: PostgresServer) -> None:
    """Not migrate's to clear: Postgres refuses, and the lock is still there afterwards."""
    server = stopped_cluster
    holder = subprocess.Popen(["setpriv", f"--reuid={RUN_AS}", f"--regid={RUN_AS}", "--clear-groups", "sleep", "60"])
    try:
        lock = server.socket_dir / f".s.PGSQL.{server.port}.lock"
        lock.write_text(f"{holder.pid}\n{server.data_dir}\n")
        shutil.chown(lock, RUN_AS, RUN_AS)
        with pytest.raises(MigrateError, match="lock file"):
            server.start(timeout=10)
        assert process.read_pid(lock) == holder.pid
    finally:
        holder.kill()
        holder.wait()
