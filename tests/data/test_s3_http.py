"""The lean S3 requests (no botocore): signed exactly as botocore's client signs them;
listings and reads equal botocore's on a real S3 server (versitygw)."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from migrate.data import s3_http, stores
from migrate.data.endpoints import S3Endpoint
from migrate.data.stores import S3Store
from migrate.errors import MissingBucket
from providers.local.servers.process import free_port
from providers.local.servers.s3 import S3Server, s3_client

KEYS = ("listing-access", "listing-secret/key+x")
NOW = datetime(2026, 11, 25, 15, 4, 5, tzinfo=UTC)


def _botocore_headers(
    url: str, region: str, method: str = "GET", headers: dict[str, str] | None = None, body: bytes | None = None
) -> dict[str, str]:
    """What botocore's own S3 SigV4 signer sends for the same request at ``NOW`` (payload signing off)."""
    from unittest import mock

    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.config import Config
    from botocore.credentials import Credentials

    request = AWSRequest(method=method, url=url, headers=headers or {}, data=body)
    if body is not None:
        request.context["client_config"] = Config(s3={"payload_signing_enabled": False})
    with mock.patch("botocore.auth.get_current_datetime", return_value=NOW.replace(tzinfo=None)):
        S3SigV4Auth(Credentials(*KEYS), "s3", region).add_auth(request)
    return dict(request.headers.items())


def _ours(
    method: str,
    url: str,
    query: dict[str, str],
    headers: dict[str, str],
    *,
    region: str,
    payload: str = s3_http.EMPTY_SHA256,
) -> dict[str, str]:
    """What s3_http sends for the request at ``NOW``."""
    from unittest import mock

    with mock.patch.object(s3_http, "_utcnow", return_value=NOW):
        return s3_http.sign(
            method, url, query, headers, region=region, access_key=KEYS[0], secret_key=KEYS[1], payload=payload
        )


def test_put_signature_equals_botocore() -> None:
    from urllib.parse import quote

    headers = {
        "Content-Type": "image/jpeg",
        "Cache-Control": "max-age=60,  public",
        "x-amz-meta-sha256": "ab" * 32,
        "x-amz-meta-owner": "Alice",
    }
    path = "/bucket-1/pics/a b+é.jpg"
    ours = _ours(
        "PUT", "http://127.0.0.1:9000" + path, {}, headers, region="us-east-1", payload=s3_http.UNSIGNED_PAYLOAD
    )
    theirs = _botocore_headers("http://127.0.0.1:9000" + quote(path, safe="/~"), "us-east-1", "PUT", headers, b"body")
    assert theirs["X-Amz-Content-SHA256"] == s3_http.UNSIGNED_PAYLOAD
    assert ours["Authorization"] == theirs["Authorization"]


@pytest.mark.parametrize(
    ("endpoint", "path", "query"),
    [
        ("http://127.0.0.1:9000", "/bucket-1", {"list-type": "2", "encoding-type": "url", "prefix": ""}),
        ("http://127.0.0.1:9000", "/bucket-1", {"list-type": "2", "encoding-type": "url", "prefix": "a b/ü+&=~*'"}),
        (
            "https://s3.example.test",
            "/bucket-1",
            {"list-type": "2", "encoding-type": "url", "prefix": "x/", "continuation-token": "1/AbC+dE=="},
        ),
        ("https://s3.example.test:8443/base", "/bucket-1", {"list-type": "2", "encoding-type": "url", "prefix": "p"}),
        ("http://127.0.0.1:9000", "/bucket-1/a b/ü+&=~*'%.jpg", {}),  # an object's key
    ],
)
@pytest.mark.parametrize("region", ["us-east-1", "eu-central-2"])
def test_signature_equals_botocore(endpoint: str, path: str, query: dict[str, str], region: str) -> None:
    from urllib.parse import quote

    from botocore.utils import percent_encode_sequence

    ours = _ours("GET", endpoint + path, query, {}, region=region)
    # The URL as botocore's serializer writes it: key percent-encoded (keeping "/" and "~"), query likewise.
    url = endpoint + quote(path, safe="/~") + (f"?{percent_encode_sequence(query)}" if query else "")
    theirs = _botocore_headers(url, region)
    assert ours["Authorization"] == theirs["Authorization"]
    assert ours["X-Amz-Date"] == theirs["X-Amz-Date"]
    assert ours["X-Amz-Content-SHA256"] == theirs["X-Amz-Content-SHA256"]


@pytest.fixture(scope="module")
def server() -> Iterator[S3Server]:
    base = Path(tempfile.mkdtemp(prefix="migrate-listing-"))
    s3 = S3Server("127.0.0.1", free_port(), base / "s3", *KEYS)
    try:
        s3.start()
        yield s3
    finally:
        s3.stop()
        shutil.rmtree(base, ignore_errors=True)


def _store(server: S3Server, bucket: str, prefix: str = "") -> S3Store:
    return S3Store(
        S3Endpoint(server.endpoint, access_key=SecretStr(KEYS[0]), secret_key=SecretStr(KEYS[1])), bucket, prefix
    )


def _botocore_listing(client: Any, bucket: str, prefix: str = "") -> dict[str, tuple[int, str]]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return {o["Key"][len(prefix) :]: (o["Size"], o["ETag"].strip('"')) for p in pages for o in p.get("Contents", [])}


def test_listing_equals_botocore_across_pages_and_odd_keys(server: S3Server, monkeypatch: pytest.MonkeyPatch) -> None:
    client = s3_client(server.endpoint, *KEYS)
    client.create_bucket(Bucket="odd-keys")
    odd = [
        "a b.jpg",
        "plus+sign.png",
        "ü/ñ.txt",
        "amp&eq=.bin",
        "quote'\"<>.txt",
        "pct%20.txt",
        "tilde~*.x",
        "deep/er/than/that.mp4",
        "sp ace/inner file",
    ]
    for key in odd:
        client.put_object(Bucket="odd-keys", Key=key, Body=key.encode())
    for index in range(6):
        client.put_object(Bucket="odd-keys", Key=f"many/{index:05d}", Body=b"x" * index)
    monkeypatch.setattr(s3_http, "PAGE_SIZE", 4)  # several pages, continuation tokens
    monkeypatch.setattr(S3Store, "client", property(lambda self: pytest.fail("listing built a botocore client")))
    lean = _store(server, "odd-keys").list()
    assert {k: (v.size, v.etag) for k, v in lean.items()} == _botocore_listing(client, "odd-keys")
    assert len(lean) == len(odd) + 6
    under = _store(server, "odd-keys", "sp ace").list()
    assert {k: (v.size, v.etag) for k, v in under.items()} == _botocore_listing(client, "odd-keys", "sp ace/")
    assert list(under) == ["inner file"]


def test_read_equals_botocore(server: S3Server, monkeypatch: pytest.MonkeyPatch) -> None:
    client = s3_client(server.endpoint, *KEYS)
    client.create_bucket(Bucket="reads")
    keys = {"pics/a b+c&d=é.jpg": b"\xff\xd8 jpeg", "plain.txt": b"", "deep/~tilde*/x": b"x" * 70_000}
    for key, body in keys.items():
        client.put_object(
            Bucket="reads",
            Key=key,
            Body=body,
            ContentType="image/jpeg",
            CacheControl="max-age=60",
            ContentDisposition='inline; filename="a.jpg"',
            Metadata={"migrate-sha256": "ab" * 32, "Owner": "x"},
        )
    store = _store(server, "reads")
    with_botocore = {key: store._call("get", store.client.get_object, Bucket="reads", Key=key) for key in keys}
    monkeypatch.setattr(S3Store, "client", property(lambda self: pytest.fail("read built a botocore client")))
    for key, body in keys.items():
        fetched = store.read(key)
        theirs = with_botocore[key]
        assert fetched.parts == [body] == [theirs["Body"].read()]
        assert fetched.etag == theirs["ETag"].strip('"')
        assert fetched.sha256 == "ab" * 32
        assert fetched.meta == stores.carried_meta(theirs)
        assert fetched.meta["content-type"] == "image/jpeg" and fetched.meta["owner"] == "x"


def test_put_round_trip_without_botocore(server: S3Server, monkeypatch: pytest.MonkeyPatch) -> None:
    client = s3_client(server.endpoint, *KEYS)
    client.create_bucket(Bucket="writes")
    store = _store(server, "writes")
    meta = {"content-type": "video/mp4", "cache-control": "max-age=86400", "owner": "alice"}
    body = b"\x00video" * 9_000
    with monkeypatch.context() as patched:
        patched.setattr(S3Store, "client", property(lambda self: pytest.fail("put built a botocore client")))
        etag = store.put("clips/a b+é.mp4", body, sha256="cd" * 32, meta=meta)
    stored = client.get_object(Bucket="writes", Key="clips/a b+é.mp4")
    assert stored["Body"].read() == body and etag == stored["ETag"].strip('"') == hashlib.md5(body).hexdigest()
    assert (stored["ContentType"], stored["CacheControl"]) == ("video/mp4", "max-age=86400")
    assert stored["Metadata"] == {"migrate-sha256": "cd" * 32, "owner": "alice"}
    # Values are header bytes, one character per byte (as read): one that is not cannot be sent,
    # goes to botocore, and is refused in one line naming its key.
    from migrate.errors import MigrateError

    with pytest.raises(MigrateError, match="x-amz-meta-caption holds non-ASCII"):
        store.put("clips/ü.txt", b"x", sha256="ef" * 32, meta={"caption": "日本 vu"})


def test_read_falls_back_to_botocore_for_its_errors(server: S3Server) -> None:
    from migrate.errors import MigrateError

    store = _store(server, "reads-missing-key")
    store.check(create=True)
    with pytest.raises(MigrateError, match="NoSuchKey"):
        store.read("nope")


def test_missing_bucket_is_reported_or_created(server: S3Server) -> None:
    store = _store(server, "not-there-yet")
    with pytest.raises(MissingBucket, match="not-there-yet does not exist"):
        store.list_or_create()
    assert store.list_or_create(create=True) == {}
    assert store.list() == {}


def test_unreachable_endpoint_is_one_clear_error() -> None:
    from migrate.errors import MigrateError

    store = S3Store(
        S3Endpoint(f"http://127.0.0.1:{free_port()}", access_key=SecretStr(KEYS[0]), secret_key=SecretStr(KEYS[1])),
        "media",
    )
    with pytest.raises(MigrateError, match="cannot reach S3 endpoint"):
        store.list()


def test_bytes_altered_between_source_and_destination_fail_the_copy(
    server: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No MD5 is computed here when both ends are S3: the source's ETag goes as Content-MD5 and must come back."""
    from migrate.data import media
    from migrate.errors import MigrateError

    monkeypatch.setenv("MIGRATE_HOME", str(tmp_path))
    client = s3_client(server.endpoint, *KEYS)
    for bucket in ("alter-src", "alter-dst"):
        client.create_bucket(Bucket=bucket)
    client.put_object(Bucket="alter-src", Key="photo.jpg", Body=b"the real bytes")
    source, dest = _store(server, "alter-src"), _store(server, "alter-dst")
    real_read = S3Store.read

    def flipped(self: S3Store, key: str) -> stores.Fetched:
        fetched = real_read(self, key)
        return stores.Fetched([b"the r3al bytes"], fetched.etag, fetched.sha256, fetched.meta)

    monkeypatch.setattr(S3Store, "read", flipped)
    # A server that checks Content-MD5 refuses the body (versitygw: BadDigest); one that does not
    # stores it, and the returned ETag gives it away.
    with pytest.raises(MigrateError, match=r"different MD5 than sent|BadDigest"):
        media.sync_objects(source, dest, workers=1)
    monkeypatch.setattr(S3Store, "read", real_read)
    again = media.sync_objects(source, dest, workers=1)  # what was stored is not taken for the source's
    assert again.copied == 1
    assert client.get_object(Bucket="alter-dst", Key="photo.jpg")["Body"].read() == b"the real bytes"
