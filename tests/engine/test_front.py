"""The sandbox's HTTP front, as a real process in front of two real backends (no engine)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from providers.local.servers import process
from tests.conftest import REPO
from tests.engine.helpers import free_loopback_address


class Echo(BaseHTTPRequestHandler):
    """Answers with who it is, the Host it saw and the sha256 of the body it received."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        digest, size = hashlib.sha256(), 0
        if self.headers.get("Transfer-Encoding") == "chunked":
            while chunk_size := int(self.rfile.readline().strip(), 16):
                data = self.rfile.read(chunk_size)
                self.rfile.readline()
                digest.update(data)
                size += len(data)
            self.rfile.readline()
        remaining = int(self.headers.get("Content-Length") or 0)
        while remaining:
            data = self.rfile.read(min(65536, remaining))
            digest.update(data)
            size += len(data)
            remaining -= len(data)
        self._answer({"sha256": digest.hexdigest(), "size": size})

    def do_GET(self) -> None:
        if self.path == "/big":
            body = b"x" * (3 * 1024 * 1024)
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self._answer({})

    def _answer(self, extra: dict[str, object]) -> None:
        port = self.server.server_address[1]  # type: ignore[index]
        body = json.dumps(
            {
                "backend": port,
                "host": self.headers["Host"],
                "forwarded_for": self.headers.get("X-Forwarded-For"),
                **extra,
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def front(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[int], Path]]:
    address = free_loopback_address()
    backends = [ThreadingHTTPServer((address, process.free_port(address)), Echo) for _ in range(2)]
    for server in backends:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    ports = [server.server_address[1] for server in backends]
    dead_port = process.free_port(address)  # listed, never listening: must be skipped
    config = tmp_path_factory.mktemp("front") / "backends.json"
    config.write_text(json.dumps({"backends": [f"{address}:{p}" for p in [*ports, dead_port]]}))
    port = process.free_port(address)
    proc = subprocess.Popen(
        [sys.executable, "-m", "providers.local.front", "--listen", f"{address}:{port}", "--backends", str(config)],
        cwd=REPO,
    )
    try:
        process.wait_until(lambda: process.port_open(address, port), what="front", timeout=10, pid=proc.pid)
        yield f"http://{address}:{port}", ports, config
    finally:
        proc.kill()
        proc.wait()
        for server in backends:
            server.shutdown()


def test_round_robin_skips_a_dead_backend_and_passes_the_host_header(front: tuple[str, list[int], Path]) -> None:
    url, ports, _ = front
    seen = set()
    for _ in range(6):
        answer = httpx.get(f"{url}/", headers={"Host": "chirp.test"}, timeout=5)
        assert answer.status_code == 200
        seen.add(answer.json()["backend"])
        assert answer.json()["host"] == "chirp.test"
        assert answer.json()["forwarded_for"]
    assert seen == set(ports)


def test_bodies_stream_through_both_ways(front: tuple[str, list[int], Path]) -> None:
    url, _, _ = front
    upload = bytes(range(256)) * 20_000  # 5 MB
    answer = httpx.post(f"{url}/upload", content=upload, timeout=30).json()
    assert answer == {**answer, "sha256": hashlib.sha256(upload).hexdigest(), "size": len(upload)}
    chunked = httpx.post(f"{url}/upload", content=iter([upload[:1000], upload[1000:]]), timeout=30).json()
    assert chunked["sha256"] == hashlib.sha256(upload).hexdigest()
    assert len(httpx.get(f"{url}/big", timeout=30).content) == 3 * 1024 * 1024


def test_backend_list_reloads_without_restart_and_502_when_none_answers(front: tuple[str, list[int], Path]) -> None:
    url, ports, config = front
    original = config.read_text()
    try:
        config.write_text(json.dumps({"backends": [f"{url.split('//')[1].split(':')[0]}:{ports[1]}"]}))
        assert {httpx.get(f"{url}/", timeout=5).json()["backend"] for _ in range(4)} == {ports[1]}
        config.write_text(json.dumps({"backends": []}))
        assert httpx.get(f"{url}/", timeout=5).status_code == 502
    finally:
        config.write_text(original)
