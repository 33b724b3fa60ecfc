"""A destination that keeps no object tags: the copy goes on without them, says so, and loses
nothing else.

Some S3-compatible stores have no object tagging and refuse a write that carries
``x-amz-tagging`` (Cloudflare R2 answers ``501 NotImplemented``, naming the header). The
destination here is the sandbox's real S3 server (versitygw) behind a pass-through proxy that
gives that answer to a tagged write and to GetObjectTagging, in R2's recorded error shape, and
forwards every other request unchanged (its signature stays valid: the Host header is kept).
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import SecretStr

from migrate.data import media
from migrate.data.endpoints import S3Endpoint
from migrate.data.stores import S3Store
from providers.local.servers.process import free_port
from providers.local.servers.s3 import S3Server, s3_client

KEYS = ("tagless-access", "tagless-secret")
REFUSAL = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>NotImplemented</Code>'
    b"<Message>Header 'x-amz-tagging' with value 'k=v' not implemented</Message></Error>"
)


class _Refusing(BaseHTTPRequestHandler):
    upstream: tuple[str, int]
    refused: list[str]

    def log_message(self, *args: object) -> None:
        pass

    def _relay(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        query = parse_qs(urlsplit(self.path).query, keep_blank_values=True)
        if self.headers.get("x-amz-tagging") or "tagging" in query:
            self.refused.append(f"{self.command} {urlsplit(self.path).path}")
            self.send_response(501)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(REFUSAL)))
            self.end_headers()
            self.wfile.write(REFUSAL)
            return
        connection = http.client.HTTPConnection(*self.upstream, timeout=30)
        try:
            connection.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for name, value in self.headers.items():
                connection.putheader(name, value)
            connection.endheaders(body or None)
            answer = connection.getresponse()
            payload = answer.read()
        finally:
            connection.close()
        self.send_response(answer.status)
        for name, value in answer.getheaders():
            if name.lower() not in ("content-length", "transfer-encoding", "connection", "date", "server"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _relay


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[S3Server, S3Server, str, list[str]]]:
    base = Path(tempfile.mkdtemp(prefix="migrate-tagless-"))
    a = S3Server("127.0.0.1", free_port(), base / "a", *KEYS)
    b = S3Server("127.0.0.1", free_port(), base / "b", *KEYS)
    refused: list[str] = []
    handler = type("Handler", (_Refusing,), {"upstream": ("127.0.0.1", b.port), "refused": refused})
    proxy = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    try:
        a.start()
        b.start()
        thread.start()
        yield a, b, f"http://127.0.0.1:{proxy.server_address[1]}", refused
    finally:
        proxy.shutdown()
        proxy.server_close()
        a.stop()
        b.stop()
        shutil.rmtree(base, ignore_errors=True)


def _store(endpoint: str, bucket: str) -> S3Store:
    return S3Store(S3Endpoint(endpoint, access_key=SecretStr(KEYS[0]), secret_key=SecretStr(KEYS[1])), bucket)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MIGRATE_HOME", str(tmp_path / "home"))  # the copy's manifest goes here


def _new_bucket(server: S3Server, bucket: str) -> Any:
    client = s3_client(server.endpoint, *KEYS)
    client.create_bucket(Bucket=bucket)
    return client


def test_tags_refused_at_the_destination_are_named_and_the_rest_is_carried_and_verified(
    servers: tuple[S3Server, S3Server, str, list[str]], home: None
) -> None:
    a, b, proxied, refused = servers
    source_client = _new_bucket(a, "media")
    bodies = {f"img/{i}.png": os.urandom(30_000 + i) for i in range(6)}
    bodies["video/big.bin"] = os.urandom(20 * 1024 * 1024)  # multipart: the tags go with its start
    for key, body in bodies.items():
        tagged = {"Tagging": f"owner=user{len(key)}&kind=upload"} if not key.endswith("5.png") else {}
        source_client.put_object(Bucket="media", Key=key, Body=body, ContentType="image/png", **tagged)

    copied, report = media.sync_verified(
        _store(a.endpoint, "media"), _store(proxied, "media"), area="media:media", task="copy", create_dest=True
    )

    assert refused, "the proxy never refused a tagged write: the test proves nothing"
    assert copied.copied == len(bodies)
    assert report.ok, [m.describe() for m in report.mismatches]
    assert len(report.not_carried) == 1
    line = report.not_carried[0]
    assert "the tags of 6 object(s)" in line and "keeps no object tags" in line, line
    dest_client = s3_client(b.endpoint, *KEYS)  # straight to the server, past the proxy
    for key, body in bodies.items():
        got = dest_client.get_object(Bucket="media", Key=key)
        assert hashlib.sha256(got["Body"].read()).hexdigest() == hashlib.sha256(body).hexdigest(), key
        assert got["ContentType"] == "image/png", key
        assert dest_client.get_object_tagging(Bucket="media", Key=key)["TagSet"] == [], key

    # A verify on its own (a fresh store, nothing written) finds the same and still passes.
    again = media.verify_objects(_store(a.endpoint, "media"), _store(proxied, "media"), area="media:media")
    assert again.ok and again.not_carried and "the tags of 6 object(s)" in again.not_carried[0]


def test_a_destination_that_keeps_tags_still_has_them_compared(
    servers: tuple[S3Server, S3Server, str, list[str]], home: None
) -> None:
    """The same server without the proxy: tags are carried, and a tag changed at B is a difference."""
    a, b, _, _ = servers
    source_client = _new_bucket(a, "tagged")
    source_client.put_object(Bucket="tagged", Key="one.png", Body=b"x" * 1000, Tagging="owner=alice")
    _, report = media.sync_verified(
        _store(a.endpoint, "tagged"), _store(b.endpoint, "tagged"), area="media:tagged", task="copy", create_dest=True
    )
    assert report.ok and not report.not_carried
    dest_client = s3_client(b.endpoint, *KEYS)
    assert dest_client.get_object_tagging(Bucket="tagged", Key="one.png")["TagSet"] == [
        {"Key": "owner", "Value": "alice"}
    ]
    dest_client.put_object_tagging(
        Bucket="tagged", Key="one.png", Tagging={"TagSet": [{"Key": "owner", "Value": "eve"}]}
    )
    changed = media.verify_objects(_store(a.endpoint, "tagged"), _store(b.endpoint, "tagged"), area="media:tagged")
    assert not changed.ok and any("tag owner" in m.describe() for m in changed.mismatches)
