"""Write load for drills, and the check that no acknowledged write was lost.

    python -m chirp.load --url http://HOST:PORT --rate N [--duration S] [--image-every K]
                         [--host-header NAME] [--out FILE] [--user NAME]
    python -m chirp.load --check FILE        # uses DATABASE_URL; exit 1 if any ack is missing

Creates posts at N writes/s from a pool of threads (httpx); with --image-every K, every K-th
post carries a small unique PNG, stored by the app in its media bucket (so a drill can count
lost media too). Every write becomes one JSON line:
``{"event": "ack", "seq", "id", "sent_at", "acked_at", "latency_ms"[, "media_key"]}`` when the app
answered 201 (the post was committed), or ``{"event": "error", "seq", "sent_at", "error"}``.
Lines go to --out (flushed line by line, so a killed generator loses nothing it acked) or to
stdout. The target dying is expected: errors are counted and the schedule keeps going until
--duration ends or SIGTERM/SIGINT. A summary JSON line goes to stderr at exit.
Timestamps are Unix epoch seconds (wall clock), to line up with a drill's timeline.
"""

from __future__ import annotations

import argparse
import itertools
import json
import queue
import signal
import sys
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, Any

import httpx

CHUNK = 10_000


def count_missing(acked_ids: Iterable[int], database_url: str) -> list[int]:
    """Acknowledged post ids that are absent from the database at ``database_url``, sorted."""
    import psycopg

    ids = sorted({int(i) for i in acked_ids})
    found: set[int] = set()
    with psycopg.connect(database_url, connect_timeout=5) as conn:
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start : start + CHUNK]
            rows = conn.execute("SELECT id FROM posts WHERE id = ANY(%s)", (chunk,))
            found.update(int(r[0]) for r in rows)
    return [i for i in ids if i not in found]


def read_acked_ids(path: Path) -> list[int]:
    """Post ids of the ``ack`` lines of a load generator output file."""
    ids: list[int] = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line torn by a hard kill
            if record.get("event") == "ack":
                ids.append(int(record["id"]))
    return ids


@dataclass
class Tally:
    """What the run did. ``max_ack_gap_s`` is the longest stretch, by send time, between two
    acknowledged writes (or an error and an ack at the ends of the run): the write outage."""

    sent: int = 0
    acked: int = 0
    errors: int = 0
    missed: int = 0
    error_kinds: dict[str, int] = field(default_factory=dict)
    ack_times: list[float] = field(default_factory=list)
    first_error_at: float | None = None
    last_error_at: float | None = None

    def summary(self) -> dict[str, Any]:
        times = sorted(self.ack_times)
        # An outage at the start or end of the run counts too: bound it by the errors.
        if self.first_error_at is not None and (not times or self.first_error_at < times[0]):
            times.insert(0, self.first_error_at)
        if self.last_error_at is not None and self.last_error_at > times[-1]:
            times.append(self.last_error_at)
        gaps = [b - a for a, b in itertools.pairwise(times)]
        return {
            "sent": self.sent,
            "acked": self.acked,
            "errors": self.errors,
            "missed": self.missed,
            "error_kinds": self.error_kinds,
            "first_error_at": self.first_error_at,
            "last_error_at": self.last_error_at,
            "max_ack_gap_s": round(max(gaps), 3) if gaps else None,
        }


class Recorder:
    """Writes one JSON line per write attempt, thread-safe, flushed at once."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out
        self.lock = threading.Lock()
        self.tally = Tally()

    def ack(self, seq: int, post_id: int, sent_at: float, acked_at: float, media_key: str | None = None) -> None:
        record: dict[str, Any] = {
            "event": "ack",
            "seq": seq,
            "id": post_id,
            "sent_at": round(sent_at, 6),
            "acked_at": round(acked_at, 6),
            "latency_ms": round((acked_at - sent_at) * 1000, 1),
        }
        if media_key:
            record["media_key"] = media_key
        with self.lock:
            self.tally.sent += 1
            self.tally.acked += 1
            self.tally.ack_times.append(sent_at)
            self._write(record)

    def error(self, seq: int, sent_at: float, error: str) -> None:
        with self.lock:
            t = self.tally
            t.sent += 1
            t.errors += 1
            t.error_kinds[error] = t.error_kinds.get(error, 0) + 1
            t.first_error_at = t.first_error_at or sent_at
            t.last_error_at = sent_at
            self._write({"event": "error", "seq": seq, "sent_at": round(sent_at, 6), "error": error})

    def missed(self) -> None:
        with self.lock:
            self.tally.missed += 1

    def _write(self, record: dict[str, Any]) -> None:
        self.out.write(json.dumps(record) + "\n")
        self.out.flush()


def tiny_png(seed: str) -> bytes:
    """A valid 1x1 PNG whose bytes are unique to ``seed`` (a tEXt chunk), so no two uploads dedupe."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x80\x00")
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"tEXt", b"seed\x00" + seed.encode())
        + chunk(b"IDAT", pixels)
        + chunk(b"IEND", b"")
    )


def send_one(
    client: httpx.Client,
    recorder: Recorder,
    user: str,
    run: str,
    seq: int,
    user_ready: threading.Event,
    image_every: int = 0,
) -> None:
    """One write. Until the posting user exists, the attempt creates it (409 = already there)
    instead, so a target that is down from the start still shows as errors, not silence."""
    sent_at = time.time()
    if not user_ready.is_set():
        try:
            response = client.post("/users", json={"name": user})
        except httpx.HTTPError as exc:
            recorder.error(seq, sent_at, type(exc).__name__)
            return
        if response.status_code not in (201, 409):
            recorder.error(seq, sent_at, f"HTTP {response.status_code} creating user")
            return
        user_ready.set()
    text = f"load {run} #{seq}"
    try:
        if image_every and seq % image_every == image_every - 1:
            response = client.post(
                "/posts",
                data={"user": user, "text": text},
                files={"image": (f"{run}-{seq}.png", tiny_png(f"{run}-{seq}"), "image/png")},
            )
        else:
            response = client.post("/posts", json={"user": user, "text": text})
    except httpx.HTTPError as exc:
        recorder.error(seq, sent_at, type(exc).__name__)
        return
    if response.status_code == 201:
        try:
            document = response.json()
            post_id = int(document["id"])
        except (ValueError, KeyError, TypeError):
            recorder.error(seq, sent_at, "bad 201 body")
            return
        recorder.ack(seq, post_id, sent_at, time.time(), document.get("media_key"))
    else:
        recorder.error(seq, sent_at, f"HTTP {response.status_code}")


def run_load(
    url: str,
    rate: float,
    duration: float | None,
    out: IO[str],
    *,
    host_header: str | None = None,
    user: str = "loadgen",
    timeout: float = 5.0,
    threads: int | None = None,
    stop: threading.Event | None = None,
    image_every: int = 0,
) -> Tally:
    """Send ``rate`` posts per second until ``duration`` ends or ``stop`` is set."""
    stop = stop or threading.Event()
    deadline = time.monotonic() + duration if duration else float("inf")
    headers = {"Host": host_header} if host_header else {}
    n_threads = threads or max(4, min(64, int(rate)))
    recorder = Recorder(out)
    run = uuid.uuid4().hex[:8]
    ticks: queue.Queue[int | None] = queue.Queue(maxsize=n_threads * 2)
    with httpx.Client(
        base_url=url, headers=headers, timeout=timeout, limits=httpx.Limits(max_connections=n_threads)
    ) as client:
        user_ready = threading.Event()

        def worker() -> None:
            while (seq := ticks.get()) is not None:
                send_one(client, recorder, user, run, seq, user_ready, image_every)

        pool = [threading.Thread(target=worker, daemon=True) for _ in range(n_threads)]
        for t in pool:
            t.start()
        start = time.monotonic()
        seq = 0
        while not stop.is_set():
            due = start + seq / rate
            if due >= deadline:
                break
            if stop.wait(max(0.0, due - time.monotonic())):
                break
            try:
                ticks.put_nowait(seq)
            except queue.Full:  # every thread is stuck on a slow target: count, don't queue
                recorder.missed()
            seq += 1
        for _ in pool:
            ticks.put(None)
        for t in pool:
            t.join(timeout + 1)
    return recorder.tally


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m chirp.load", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", help="base URL of chirp, e.g. http://127.10.0.1:8080")
    parser.add_argument("--rate", type=float, help="writes per second")
    parser.add_argument("--duration", type=float, help="seconds to run (default: until SIGTERM)")
    parser.add_argument("--host-header", help="Host header to send (name-based routing)")
    parser.add_argument("--out", type=Path, help="JSON lines file (default: stdout)")
    parser.add_argument("--user", default="loadgen", help="user that posts (default loadgen)")
    parser.add_argument("--timeout", type=float, default=5.0, help="per request (default 5 s)")
    parser.add_argument("--threads", type=int, help="concurrent requests (default ~rate)")
    parser.add_argument(
        "--image-every",
        type=int,
        default=0,
        metavar="K",
        help="every K-th post uploads a small PNG (default 0: text only)",
    )
    parser.add_argument(
        "--check", type=Path, metavar="FILE", help="count acked ids of FILE missing from DATABASE_URL, then exit"
    )
    args = parser.parse_args(argv)

    if args.check:
        import os

        database_url = os.environ.get("DATABASE_URL", "")
        if not database_url:
            parser.error("--check needs DATABASE_URL in the environment")
        acked = read_acked_ids(args.check)
        missing = count_missing(acked, database_url)
        print(json.dumps({"acked": len(acked), "missing": len(missing), "missing_ids": missing}))
        return 1 if missing else 0
    if not args.url or not args.rate or args.rate <= 0:
        parser.error("--url and a positive --rate are required")

    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    out: IO[str] = args.out.open("a", encoding="utf-8") if args.out else sys.stdout
    started = time.time()
    try:
        tally = run_load(
            args.url,
            args.rate,
            args.duration,
            out,
            host_header=args.host_header,
            user=args.user,
            timeout=args.timeout,
            threads=args.threads,
            stop=stop,
            image_every=args.image_every,
        )
    finally:
        if out is not sys.stdout:
            out.close()
    summary = {
        "url": args.url,
        "rate": args.rate,
        "started_at": started,
        "elapsed_s": round(time.time() - started, 3),
        **tally.summary(),
    }
    print(json.dumps(summary), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
