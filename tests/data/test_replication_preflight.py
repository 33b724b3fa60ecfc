"""``replicate start`` against a source that cannot decode logically (``wal_level = replica``,
the default of many servers and managed providers) fails in one line naming the setting, and
changes nothing at either side. A third real Postgres 15 cluster, on loopback."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from providers.local.servers.postgres import PostgresServer
from providers.local.servers.process import free_port
from tests.conftest import run_cli
from tests.data.conftest import APP_PASSWORD, APP_USER, Pair, Side


@pytest.fixture
def replica_level(servers_base: Path) -> Iterator[PostgresServer]:
    server = PostgresServer(servers_base / "pg-replica-level", "127.0.0.1", free_port(), "super-r-pw")
    server.init()
    with (server.data_dir / "postgresql.conf").open("a") as conf:
        conf.write("wal_level = replica\n")  # after the sandbox's own settings: this one wins
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def servers_base() -> Iterator[Path]:
    base = Path(tempfile.mkdtemp(prefix="migrate-preflight-", dir="/tmp"))  # postgres must reach it
    base.chmod(0o755)
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_start_without_logical_wal_fails_in_one_line_and_changes_nothing(
    pair: Pair, replica_level: PostgresServer
) -> None:
    replica_level.ensure_database(APP_USER, APP_PASSWORD, "shop")
    a = Side("site-a", replica_level, pair.a.s3_server, "shop", pair.a.bucket)
    a.sql("CREATE TABLE tags (name text, n int)")  # no key: start would give it a replica identity
    pair = Pair(a, pair.b, pair.work)
    done = run_cli("data", "replicate", "start", *pair.cli_args(), "--json", env=pair.env())
    assert done.returncode == 1, done.stdout + done.stderr
    error = json.loads(done.stdout)["error"] if done.stdout.strip() else done.stderr
    assert "wal_level = logical" in error and "it is replica" in error, error
    assert "Traceback" not in done.stderr
    assert a.sql("SELECT relreplident FROM pg_class WHERE relname = 'tags'") == [("d",)]
    assert a.sql("SELECT count(*) FROM pg_publication") == [(0,)]
    assert pair.b.sql("SELECT count(*) FROM pg_subscription", admin=True) == [(0,)]
