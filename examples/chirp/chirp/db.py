"""Postgres access with psycopg 3.

One short-lived connection per request or job: no pool (psycopg_pool is not a dependency),
and nothing stale to evict when the database is restored or moved under a running app.
"""

from __future__ import annotations

import logging
import time
from importlib import resources

import psycopg
from psycopg.rows import dict_row

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 3
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
