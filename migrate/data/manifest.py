"""A durable record of what a copy has done, so a killed run resumes without copying twice.

SQLite in WAL mode under ``$MIGRATE_HOME/data/manifests/``: one row per object, written once
the object is at the destination and committed in batches (every ``BATCH`` rows or
``BATCH_SECONDS``, and at the end), so thousands of small objects do not cost thousands of
commits. A killed process loses at most the last batch (synchronous=NORMAL: an OS crash the
same), and then the listing comparison still recognises those objects as present.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import time
from collections.abc import Collection
from pathlib import Path
from typing import NamedTuple

from migrate.data.stores import ObjectInfo
from migrate.home import migrate_home


def data_dir() -> Path:
    path = migrate_home() / "data"
    path.mkdir(parents=True, exist_ok=True)
    return path


class Record(NamedTuple):
    """One object's row (a tuple: thousands are loaded per run)."""

    key: str
    src_size: int
    src_etag: str
    dst_size: int
    dst_etag: str
    sha256: str
    copied_by: int | None

    def matches(self, src: ObjectInfo, dst: ObjectInfo | None) -> bool:
        """True if both sides still hold exactly what this record saw."""
        return (
            dst is not None
            and src.size == self.src_size
            and src.etag == self.src_etag
            and dst.size == self.dst_size
            and dst.etag == self.dst_etag
        )


BATCH = 500
BATCH_SECONDS = 1.0
_UPSERT_COPIED = "INSERT OR REPLACE INTO objects VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
_UPSERT_PRESENT = (  # present already: keep who copied it
    "INSERT INTO objects VALUES (?, ?, ?, ?, ?, ?, NULL, ?) ON CONFLICT(key) DO UPDATE SET "
    "src_size=excluded.src_size, src_etag=excluded.src_etag, dst_size=excluded.dst_size, "
    "dst_etag=excluded.dst_etag, sha256=excluded.sha256, updated_at=excluded.updated_at"
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    key TEXT PRIMARY KEY, src_size INTEGER, src_etag TEXT, dst_size INTEGER, dst_etag TEXT,
    sha256 TEXT, copied_by INTEGER, updated_at REAL);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, started_at REAL, finished_at REAL,
    copied INTEGER DEFAULT 0, skipped INTEGER DEFAULT 0, bytes INTEGER DEFAULT 0);
CREATE TABLE IF NOT EXISTS about (name TEXT PRIMARY KEY, value TEXT);
"""


class Manifest:
    def __init__(self, path: Path, source: str, dest: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._db.execute("INSERT OR IGNORE INTO about VALUES ('source', ?), ('dest', ?)", (source, dest))
        self.run_id = 0
        self._pending: list[tuple[str, tuple[object, ...]]] = []
        self._flushed_at = time.monotonic()

    @classmethod
    def for_pair(cls, source: str, dest: str) -> Manifest:
        """The manifest of copies from ``source`` to ``dest`` (labels without secrets)."""
        name = hashlib.sha256(f"{source}\n{dest}".encode()).hexdigest()[:20]
        return cls(data_dir() / "manifests" / f"{name}.sqlite", source, dest)

    def records(self, keys: Collection[str] | None = None) -> dict[str, Record]:
        """Every row, or only those of ``keys`` (a follower's few announced objects in a big bucket)."""
        columns = "SELECT key, src_size, src_etag, dst_size, dst_etag, sha256, copied_by FROM objects"
        with self._lock:
            self._flush()
            if keys is None:
                rows = self._db.execute(columns).fetchall()
            else:
                rows = []
                wanted = list(keys)
                for start in range(0, len(wanted), 500):  # SQLite's bound-parameter limit
                    chunk = wanted[start : start + 500]
                    rows += self._db.execute(f"{columns} WHERE key IN ({','.join('?' * len(chunk))})", chunk).fetchall()
        return {row[0]: Record._make(row) for row in rows}

    def start_run(self) -> int:
        with self._lock:
            cursor = self._db.execute("INSERT INTO runs (started_at) VALUES (?)", (time.time(),))
            self.run_id = int(cursor.lastrowid or 0)
        return self.run_id

    def finish_run(self, copied: int, skipped: int, nbytes: int) -> None:
        with self._lock:
            self._flush()
            self._db.execute(
                "UPDATE runs SET finished_at=?, copied=?, skipped=?, bytes=? WHERE id=?",
                (time.time(), copied, skipped, nbytes, self.run_id),
            )

    def record(self, src: ObjectInfo, dst_size: int, dst_etag: str, sha256: str, copied: bool) -> None:
        row: tuple[object, ...] = (src.key, src.size, src.etag, dst_size, dst_etag, sha256)
        with self._lock:
            if copied:
                self._pending.append((_UPSERT_COPIED, (*row, self.run_id, time.time())))
            else:
                self._pending.append((_UPSERT_PRESENT, (*row, time.time())))
            if len(self._pending) >= BATCH or time.monotonic() - self._flushed_at >= BATCH_SECONDS:
                self._flush()

    def _flush(self) -> None:
        """Commit the pending rows in one transaction (caller holds the lock)."""
        self._flushed_at = time.monotonic()
        if not self._pending:
            return
        with self._db:  # one transaction
            self._db.execute("BEGIN")
            for sql, row in self._pending:
                self._db.execute(sql, row)
        self._pending.clear()

    def flush(self) -> None:
        with self._lock:
            self._flush()

    def forget(self, key: str) -> None:
        with self._lock:
            self._flush()
            self._db.execute("DELETE FROM objects WHERE key=?", (key,))

    def copies_per_run(self) -> dict[int, int]:
        with self._lock:
            self._flush()
            rows = self._db.execute(
                "SELECT copied_by, count(*) FROM objects WHERE copied_by IS NOT NULL GROUP BY copied_by"
            ).fetchall()
        return {int(run): int(count) for run, count in rows}

    def close(self) -> None:
        with self._lock:
            try:
                self._flush()  # what was copied before a failure stays recorded
            finally:
                self._db.close()
