"""Postgres access with psycopg 3.

Web requests borrow connections from a pool: opening one costs a Postgres fork plus a SCRAM
handshake (~5 ms idle, 50 ms on a busy 2-core host), which capped the app far below the drill's
200 writes/s. Each borrowed connection is checked first, so after a restore or promotion under
a running app the broken ones are replaced, not served. Jobs and health checks connect afresh.
"""

from __future__ import annotations

import logging
import time
from importlib import resources

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 3
POOL_MAX = 16
POOL_WAIT_S = 5.0
# Serialises concurrent schema application (two web replicas starting at once).
SCHEMA_LOCK_KEY = 0x636869727001


def connect(database_url: str, *, autocommit: bool = False) -> psycopg.Connection[dict]:
    return psycopg.connect(
        database_url,
        autocommit=autocommit,
        row_factory=dict_row,
        connect_timeout=CONNECT_TIMEOUT_S,
        application_name="chirp",
    )


def connection_pool(database_url: str) -> ConnectionPool[psycopg.Connection[dict]]:
    """A pool of up to POOL_MAX connections, opened in the background (the database may still be
    restoring when the app starts); a request waits at most POOL_WAIT_S for one, then gets a 503."""
    return ConnectionPool(
        database_url,
        connection_class=psycopg.Connection[dict],
        kwargs={"row_factory": dict_row, "connect_timeout": CONNECT_TIMEOUT_S, "application_name": "chirp"},
        min_size=2,
        max_size=POOL_MAX,
        timeout=POOL_WAIT_S,
        max_idle=60,
        check=ConnectionPool.check_connection,
        open=True,
        name="chirp",
    )


def schema_sql() -> str:
    return resources.files("chirp").joinpath("schema.sql").read_text(encoding="utf-8")


def apply_schema(database_url: str) -> None:
    """Create missing tables and indexes; a no-op on an up-to-date database."""
    with connect(database_url) as conn:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_KEY,))
        conn.execute(schema_sql().encode())


def wait_and_apply_schema(database_url: str, wait_seconds: float) -> None:
    """Apply the schema, retrying while the database is not reachable yet (e.g. mid-restore)."""
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            apply_schema(database_url)
            return
        except psycopg.OperationalError as exc:
            if time.monotonic() >= deadline:
                raise
            log.warning("database not ready (%s); retrying", first_line(exc))
            time.sleep(1)


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
