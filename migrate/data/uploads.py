"""The multipart uploads migrate has started and not yet completed or aborted, on disk.

Why: a copy killed mid-upload (SIGKILL, power loss) leaves its parts at the destination, where
S3 keeps and bills them, invisible to listings, until someone aborts the upload. Each upload id
is written here (committed) as soon as the server hands it out and removed once the upload is
completed or aborted, so the next copy to that bucket aborts exactly the uploads a dead
migrate process left: never one it did not start, never one a live process is still sending.
SQLite under ``$MIGRATE_HOME/data/``.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import threading
import time
from dataclasses import dataclass

from migrate.home import migrate_home

_SCHEMA = """
CREATE TABLE IF NOT EXISTS uploads (
    upload_id TEXT, place TEXT, bucket TEXT, key TEXT, host TEXT, pid INTEGER, started_at REAL,
    PRIMARY KEY (place, bucket, upload_id));
"""
_lock = threading.Lock()


@dataclass(frozen=True)
class Upload:
    upload_id: str
    key: str
    host: str
    pid: int

    def orphaned(self) -> bool:
        """True when the process that started it is gone (on this host: another's may be live)."""
        if self.host != socket.gethostname():
            return False
        if self.pid == os.getpid():
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False


def _connect() -> sqlite3.Connection:
    directory = migrate_home() / "data"
    directory.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(directory / "multipart-uploads.sqlite", isolation_level=None, timeout=30)
    db.executescript(_SCHEMA)
    return db


def started(place: str, bucket: str, key: str, upload_id: str) -> None:
    """Record an upload the server has just begun (``place``: the endpoint's label)."""
    with _lock:
        db = _connect()
        try:
            db.execute(
                "INSERT OR REPLACE INTO uploads VALUES (?, ?, ?, ?, ?, ?, ?)",
                (upload_id, place, bucket, key, socket.gethostname(), os.getpid(), time.time()),
            )
        finally:
            db.close()


def ended(place: str, bucket: str, upload_id: str) -> None:
    """The upload is completed or aborted: nothing to clean up."""
    with _lock:
        db = _connect()
        try:
            db.execute("DELETE FROM uploads WHERE place=? AND bucket=? AND upload_id=?", (place, bucket, upload_id))
        finally:
            db.close()


def orphans(place: str, bucket: str) -> list[Upload]:
    """Uploads to this bucket whose migrate process has died without completing or aborting them."""
    with _lock:
        db = _connect()
        try:
            rows = db.execute(
                "SELECT upload_id, key, host, pid FROM uploads WHERE place=? AND bucket=?", (place, bucket)
            ).fetchall()
        finally:
            db.close()
    return [upload for upload in (Upload(*row) for row in rows) if upload.orphaned()]
