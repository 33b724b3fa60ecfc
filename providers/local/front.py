"""The sandbox's HTTP front: a streaming reverse proxy round-robining over web replicas.

Run as ``python -m providers.local.front --listen HOST:PORT --backends FILE``. The
backends file (``{"backends": ["host:port", ...]}``) is re-read whenever it changes,
so scaling the web process needs no restart. Bodies are streamed both ways in chunks
(image uploads never sit in memory whole); the client's Host header is passed on. A
backend that refuses the connection is skipped for the next one; 502 when none answers.

Standard library only: it starts in a few tens of milliseconds.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

CHUNK = 64 * 1024
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "proxy-connection",
    }
)
CONNECT_TIMEOUT = 2.0
READ_TIMEOUT = 120.0


class Backends:
    """The backend list, reloaded when its file changes; a thread-safe round robin."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._mtime = -1.0
        self._items: list[tuple[str, int]] = []
        self._counter = itertools.count()

    def ordered(self) -> list[tuple[str, int]]:
        """All backends, starting with the next one in turn."""
        with self._lock:
            self._reload()
            items = self._items
            if not items:
                return []
            start = next(self._counter) % len(items)
        return items[start:] + items[:start]

    def _reload(self) -> None:
        try:
            mtime = self.path.stat().st_mtime
        except OSError:
            return
        if mtime == self._mtime:
            return
        try:
            listed = json.loads(self.path.read_text())["backends"]
        except (OSError, ValueError, KeyError):
            return
        items = []
        for entry in listed:
            host, _, port = str(entry).rpartition(":")
            items.append((host, int(port)))
        self._items, self._mtime = items, mtime


class ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "migrate-front"
    backends: Backends

    def log_message(self, format: str, *args: object) -> None:  # quiet: one line per error only
        pass

    def _proxy(self) -> None:
        upstream = self._connect()
        if upstream is None:
            self._fail(502, "no backend answers")
            return
        try:
            self._forward_request(upstream)
            response = upstream.getresponse()
            self._forward_response(response)
        except (OSError, http.client.HTTPException) as exc:
            sys.stderr.write(f"front: {self.command} {self.path}: {exc}\n")
            self.close_connection = True
            if not getattr(self, "_started_response", False):
                self._fail(502, "backend failed")
        finally:
            upstream.close()

    def _connect(self) -> http.client.HTTPConnection | None:
        for host, port in self.backends.ordered():
            connection = http.client.HTTPConnection(host, port, timeout=CONNECT_TIMEOUT)
            try:
                connection.connect()
            except OSError:
                connection.close()
                continue
            assert connection.sock is not None
            connection.sock.settimeout(READ_TIMEOUT)
            return connection
        return None

    def _forward_request(self, upstream: http.client.HTTPConnection) -> None:
        upstream.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
        for key, value in self.headers.items():
            if key.lower() not in HOP_BY_HOP:
                upstream.putheader(key, value)
        client = self.client_address[0]
        forwarded = self.headers.get("X-Forwarded-For")
        upstream.putheader("X-Forwarded-For", f"{forwarded}, {client}" if forwarded else client)
        upstream.putheader("X-Forwarded-Proto", "http")
        if self.headers.get("Host"):
            upstream.putheader("X-Forwarded-Host", self.headers["Host"])
        chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
        if chunked:
            upstream.putheader("Transfer-Encoding", "chunked")
        upstream.putheader("Connection", "close")
        upstream.endheaders()
        if chunked:
            self._copy_chunked_request(upstream)
            return
        remaining = int(self.headers.get("Content-Length") or 0)
        while remaining > 0:
            data = self.rfile.read(min(CHUNK, remaining))
            if not data:
                raise ConnectionError("client closed the request body early")
            upstream.send(data)
            remaining -= len(data)

    def _copy_chunked_request(self, upstream: http.client.HTTPConnection) -> None:
        while True:
            size_line = self.rfile.readline(1024)
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass
                upstream.send(b"0\r\n\r\n")
                return
            data = self.rfile.read(size)
            self.rfile.readline(8)
            upstream.send(f"{size:x}\r\n".encode() + data + b"\r\n")

    def _forward_response(self, response: http.client.HTTPResponse) -> None:
        self._started_response = True
        self.send_response_only(response.status, response.reason)
        length = response.getheader("Content-Length")
        for key, value in response.getheaders():
            if key.lower() not in HOP_BY_HOP:
                self.send_header(key, value)
        bodiless = self.command == "HEAD" or response.status in (204, 304) or 100 <= response.status < 200
        chunked = not bodiless and length is None
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if bodiless:
            return
        while True:
            data = response.read1(CHUNK) if hasattr(response, "read1") else response.read(CHUNK)
            if not data:
                break
            if chunked:
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            else:
                self.wfile.write(data)
        if chunked:
            self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _fail(self, status: int, message: str) -> None:
        body = f"{message}\n".encode()
        self.send_response_only(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _proxy


class FrontServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def server_bind(self) -> None:
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        super().server_bind()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="providers.local.front", description=__doc__.splitlines()[0])
    parser.add_argument("--listen", required=True, help="HOST:PORT to listen on")
    parser.add_argument("--backends", required=True, type=Path, help="JSON file listing host:port backends")
    args = parser.parse_args(argv)
    host, _, port = args.listen.rpartition(":")
    handler = type("Handler", (ProxyHandler,), {"backends": Backends(args.backends)})
    server = FrontServer((host, int(port)), handler)
    sys.stderr.write(f"front: listening on {host}:{port}, pid {os.getpid()}\n")
    sys.stderr.flush()
    server.serve_forever()


if __name__ == "__main__":
    main()
