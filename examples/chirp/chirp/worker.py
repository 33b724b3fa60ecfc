"""Background worker: ``python -m chirp.worker [--poll SECONDS] [--once]``.

Claims jobs with ``SELECT ... FOR UPDATE SKIP LOCKED`` so any number of workers can run
side by side. The one job kind today, ``media.inspect``, re-reads an uploaded object from
the media store, checks its sha256 and size against the database row and records the image's
width and height, so a media move that corrupts or loses an object shows up as a failed job.
A job that fails is retried with backoff, then marked failed. The database or media store
being down makes the worker wait, not die. SIGTERM finishes the current job and exits 0.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

import psycopg
from botocore.exceptions import BotoCoreError

from .config import ConfigError, Settings, setup_logging
from .db import connect, first_line, wait_and_apply_schema
from .media import MediaStore, image_size

log = logging.getLogger("chirp.worker")

MAX_ATTEMPTS = 5

CLAIM_SQL = """
SELECT id, kind, payload, attempts FROM jobs
WHERE status = 'pending' AND run_after <= now()
ORDER BY id
LIMIT 1
FOR UPDATE SKIP LOCKED
"""


class JobError(Exception):
    """The job cannot succeed as things stand (e.g. checksum mismatch); retried, then failed."""


Handler = Callable[[psycopg.Connection[dict], MediaStore, dict[str, Any]], None]


def inspect_media(conn: psycopg.Connection[dict], store: MediaStore, payload: dict[str, Any]) -> None:
    row = conn.execute(
        "SELECT id, key, sha256, size FROM media WHERE id = %s FOR UPDATE",
        (payload["media_id"],),
    ).fetchone()
    if row is None:
        raise JobError(f"media {payload['media_id']} does not exist")
    data = store.read(row["key"])
    digest = hashlib.sha256(data).hexdigest()
    if digest != row["sha256"].strip() or len(data) != row["size"]:
        raise JobError(
            f"{row['key']}: stored object has sha256 {digest[:12]}… size {len(data)}, "
            f"database says {row['sha256'][:12]}… size {row['size']}"
        )
    dims = image_size(data)
    conn.execute(
        "UPDATE media SET width = %s, height = %s, verified_at = now() WHERE id = %s",
        (dims[0] if dims else None, dims[1] if dims else None, row["id"]),
    )
    log.info(
        "media %s verified (%d bytes, %s)", row["key"], len(data), f"{dims[0]}x{dims[1]}" if dims else "size unknown"
    )


HANDLERS: dict[str, Handler] = {"media.inspect": inspect_media}


def run_one(settings: Settings, store: MediaStore) -> bool:
    """Process at most one due job. True if one was claimed (so look again at once)."""
    with connect(settings.database_url) as conn:
        job = conn.execute(CLAIM_SQL).fetchone()
        if job is None:
            conn.rollback()
            return False
        handler = HANDLERS.get(job["kind"])
        try:
            if handler is None:
                raise JobError(f"unknown job kind {job['kind']!r}")
            handler(conn, store, job["payload"])
            conn.execute(
                "UPDATE jobs SET status = 'done', attempts = attempts + 1, finished_at = now(),"
                " last_error = NULL WHERE id = %s",
                (job["id"],),
            )
            conn.commit()
            return True
        except (psycopg.OperationalError, BotoCoreError):
            raise  # a dependency is down: not the job's fault, so no attempt is spent
        except Exception as exc:
            conn.rollback()
            error = first_line(exc)
            attempts = job["attempts"] + 1
            final = attempts >= MAX_ATTEMPTS
            log.warning("job %s (%s) attempt %d failed: %s", job["id"], job["kind"], attempts, error)
            conn.execute(
                """UPDATE jobs SET attempts = %s, last_error = %s,
                       status = CASE WHEN %s THEN 'failed' ELSE 'pending' END,
                       finished_at = CASE WHEN %s THEN now() END,
                       run_after = now() + make_interval(secs => %s)
                   WHERE id = %s""",
                (attempts, error[:1000], final, final, 2**attempts, job["id"]),
            )
            conn.commit()
            return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m chirp.worker", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--poll",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="sleep between polls when there is no work (default 1)",
    )
    parser.add_argument("--once", action="store_true", help="process every due job, then exit")
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"chirp.worker: {exc}", file=sys.stderr)
        return 2
    setup_logging(settings.log_level)
    log.info("starting: %s", settings.describe())
    stopping = threading.Event()

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %s: finishing current job", signal.Signals(signum).name)
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        wait_and_apply_schema(settings.database_url, wait_seconds=30)
    except Exception as exc:
        log.error("cannot start: %s", first_line(exc))
        return 1
    store = MediaStore(settings)
    while not stopping.is_set():
        try:
            if run_one(settings, store):
                continue
        except psycopg.OperationalError as exc:
            log.warning("database unavailable: %s", first_line(exc))
        except BotoCoreError as exc:
            log.warning("media store unavailable: %s", first_line(exc))
        if args.once:
            break
        stopping.wait(args.poll)
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
