"""The sandbox S3 server's change feed: a listener for versitygw's server-wide event webhook.

versitygw POSTs an S3-format event (``{"Records": [...]}``) to ``--event-webhook-url`` for every
change, and exits at start if nobody answers its test event; an event it cannot deliver is
dropped. So this listener is started first and outlives every follower: it appends each event,
as one JSON line, to ``events.jsonl`` on the target's disk, and followers read from there at
their own pace and from any byte offset (``GET /events?after=N&wait=S``, a long poll answering
``{"events": [...], "next": M}``). Reads need ``Authorization: Bearer <token>``: the token is
derived from the store's secret key (:func:`feed_token`), so a follower that may read the
bucket may read its feed, and the secret itself never crosses the wire. Run as
``python -m providers.local.servers.s3_events HOST PORT DIR``; the token is read from
``DIR/token`` (mode 0600), never from argv or the environment.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sys
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from providers.local.servers import process

MAX_BODY = 1 << 20  # one event is a few hundred bytes; a DeleteObjects batch is sent one per key
MAX_ANSWER = 1 << 20  # bytes of events per read; the follower asks again from ``next``
MAX_WAIT = 20.0


def feed_token(secret_key: str) -> str:
    """The bearer token for the feed of a store whose secret key is ``secret_key``."""
    return hmac.new(secret_key.encode(), b"migrate s3 event feed", hashlib.sha256).hexdigest()


@dataclass
class EventListener(process.ListeningServer):
    """The listener process for one store: ``directory`` holds its token, events and log."""

    host: str
    port: int
    directory: Path
    pid: int | None = None

    @property
    def webhook_url(self) -> str:
        return self.http_url("/hook")

    @property
    def feed_url(self) -> str:
        return self.http_url("/events")

    def write_token(self, secret_key: str) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.directory.chmod(0o700)
        path = self.directory / "token"
        path.touch(mode=0o600)
        path.write_text(feed_token(secret_key))

    def start(self, timeout: float = 15.0) -> int:
        if self.pid and process.alive(self.pid):
            return self.pid
        import os

        self.pid = process.start_server(
            [sys.executable, "-m", "providers.local.servers.s3_events", self.host, str(self.port), str(self.directory)],
            self.directory / "listener.log",
            ready=self.listening,
            what=f"S3 event listener on {self.host}:{self.port}",
            timeout=timeout,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(Path(__file__).parents[3])},
        )
        return self.pid


class _Spool:
    """The append-only event file and a condition that wakes readers waiting for more."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.changed = threading.Condition()
        path.touch(mode=0o600)
        self.size = path.stat().st_size

    def append(self, records: list[object]) -> None:
        lines = "".join(json.dumps(record, separators=(",", ":")) + "\n" for record in records).encode()
        with self.changed:
            with self.path.open("ab") as handle:
                handle.write(lines)
            self.size += len(lines)
            self.changed.notify_all()

    def read(self, after: int, wait: float) -> tuple[list[object], int]:
        with self.changed:
            if after > self.size:  # a cursor from before the file was replaced: start over
                after = 0
            if after == self.size and wait > 0:
                self.changed.wait_for(lambda: self.size > after, timeout=wait)
            size = self.size
        with self.path.open("rb") as handle:
            handle.seek(after)
            data = handle.read(min(size - after, MAX_ANSWER))
        end = data.rfind(b"\n") + 1
        if end == 0 and data:  # one line larger than an answer: cannot happen (MAX_BODY)
            end = len(data)
        events = [json.loads(line) for line in data[:end].splitlines() if line.strip()]
        return events, after + end


def _handler(spool: _Spool, token: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            return

        def _answer(self, status: int, body: dict[str, object]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if urlsplit(self.path).path != "/hook" or not 0 < length <= MAX_BODY:
                self._answer(400, {"error": "POST /hook with a JSON body"})
                return
            try:
                doc = json.loads(self.rfile.read(length))
            except ValueError:
                self._answer(400, {"error": "not JSON"})
                return
            records = doc.get("Records") if isinstance(doc, dict) else None
            if isinstance(records, list) and records:  # the server's start-up test event has none
                spool.append(records)
            self._answer(200, {})

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path == "/healthz":
                self._answer(200, {"next": spool.size})
                return
            if url.path != "/events":
                self._answer(404, {"error": "GET /events"})
                return
            given = self.headers.get("Authorization", "").removeprefix("Bearer ").strip()
            if not hmac.compare_digest(given, token):
                self._answer(401, {"error": "a bearer token derived from the store's secret key is needed"})
                return
            query = parse_qs(url.query)
            try:
                after = max(0, int(query.get("after", ["0"])[0]))
                wait = min(MAX_WAIT, max(0.0, float(query.get("wait", ["0"])[0])))
            except ValueError:
                self._answer(400, {"error": "after and wait are numbers"})
                return
            if query.get("at") == ["end"]:
                self._answer(200, {"events": [], "next": spool.size})
                return
            events, next_offset = spool.read(after, wait)
            self._answer(200, {"events": events, "next": next_offset})

    return Handler


def serve(host: str, port: int, directory: Path) -> None:
    token = (directory / "token").read_text().strip()
    spool = _Spool(directory / "events.jsonl")
    server = ThreadingHTTPServer((host, port), _handler(spool, token))
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]))
