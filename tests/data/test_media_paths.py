"""The media engine's three ways of copying a large object, in-process against real moto servers.

The CLI tests cover the single GET + PUT path; objects of hundreds of MiB take the other two.
Here the thresholds are lowered so a 17 MiB object takes them: ranged GETs into memory with a
multipart upload from memory, and ranged GETs into a temporary file with a multipart upload
from it. Both must leave a 3-part object holding the same bytes with its sha256 in metadata,
verify clean, and be skipped by an unchanged re-sync.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from migrate.data import media, s3_http, stores
from migrate.data.endpoints import S3Endpoint
from migrate.data.stores import S3Store
from migrate.errors import MigrateError
from tests.data.conftest import KEYS, Pair


def _store(endpoint: str, bucket: str) -> S3Store:
    return S3Store(S3Endpoint(endpoint, access_key=SecretStr(KEYS[0]), secret_key=SecretStr(KEYS[1])), bucket)


@pytest.mark.parametrize("through", ["memory", "file"])
def test_large_object_multipart_paths(pair: Pair, monkeypatch: pytest.MonkeyPatch, through: str) -> None:
    monkeypatch.setenv("MIGRATE_HOME", str(pair.work / "home"))
    monkeypatch.setattr(stores, "MULTIPART_THRESHOLD", 16 * stores.MIB)
    if through == "file":
        monkeypatch.setattr(media, "IN_MEMORY_MAX", 0)
    big = os.urandom(17 * stores.MIB)
    pair.a.s3().put_object(
        Bucket=pair.a.bucket,
        Key="video/big.mp4",
        Body=big,
        ContentType="video/mp4",
        CacheControl="max-age=86400",
        Metadata={"owner": "alice"},
    )
    source = _store(pair.a.s3_server.endpoint, pair.a.bucket)
    dest = _store(pair.b.s3_server.endpoint, pair.b.bucket)

    first = media.sync_objects(source, dest, workers=4)
    assert (first.copied, first.bytes_copied) == (1, len(big))
    stored = pair.b.s3().get_object(Bucket=pair.b.bucket, Key="video/big.mp4")
    assert stored["ETag"].strip('"').endswith("-3")
    assert stored["Metadata"]["migrate-sha256"] == hashlib.sha256(big).hexdigest()
    assert (stored["ContentType"], stored["CacheControl"]) == ("video/mp4", "max-age=86400")
    assert stored["Metadata"]["owner"] == "alice"
    assert hashlib.sha256(stored["Body"].read()).digest() == hashlib.sha256(big).digest()
    report = media.verify_objects(
        source, dest, area="media", source_listing=first.source_listing, dest_listing=first.dest_listing
    )
    assert report.ok and report.sections[0].matched == 1

    again = media.sync_objects(source, dest, workers=4)
    assert (again.copied, again.skipped) == (0, 1)


def test_source_with_lying_sha256_metadata_is_refused(pair: Pair, monkeypatch: pytest.MonkeyPatch) -> None:
    """Content that does not match the sha256 its metadata claims is never copied as if it did."""
    monkeypatch.setenv("MIGRATE_HOME", str(pair.work / "home"))
    pair.a.s3().put_object(
        Bucket=pair.a.bucket,
        Key="doc.txt",
        Body=b"hello",
        Metadata={"migrate-sha256": hashlib.sha256(b"other").hexdigest()},
    )
    source = _store(pair.a.s3_server.endpoint, pair.a.bucket)
    dest = _store(pair.b.s3_server.endpoint, pair.b.bucket)
    with pytest.raises(MigrateError, match="sha256 metadata"):
        media.sync_objects(source, dest, workers=2)


@pytest.mark.parametrize("size", [5_000, 17 * 1024 * 1024])
def test_headers_and_metadata_survive_the_copy(pair: Pair, monkeypatch: pytest.MonkeyPatch, size: int) -> None:
    """An image must come back as an image: Content-Type, Cache-Control and user metadata are kept."""
    monkeypatch.setenv("MIGRATE_HOME", str(pair.work / "home"))
    pair.a.s3().put_object(
        Bucket=pair.a.bucket,
        Key="img/cat.png",
        Body=os.urandom(size),
        ContentType="image/png",
        CacheControl="public, max-age=31536000",
        ContentDisposition='inline; filename="cat.png"',
        Metadata={"uploader": "42"},
    )
    source = _store(pair.a.s3_server.endpoint, pair.a.bucket)
    dest = _store(pair.b.s3_server.endpoint, pair.b.bucket)
    assert media.sync_objects(source, dest, workers=4).copied == 1
    stored = pair.b.s3().head_object(Bucket=pair.b.bucket, Key="img/cat.png")
    assert stored["ContentType"] == "image/png"
    assert stored["CacheControl"] == "public, max-age=31536000"
    assert stored["ContentDisposition"] == 'inline; filename="cat.png"'
    assert stored["Metadata"]["uploader"] == "42"


class _GatedSource(S3Store):
    """The source bucket, but its second listing page waits until the destination got an object."""

    def __init__(self, inner: S3Store, first_put: threading.Event) -> None:
        super().__init__(inner.endpoint, inner.bucket)
        self.first_put = first_put
        self.waited_for_copy: bool | None = None

    def pages(self, create: bool = False) -> Iterator[dict[str, stores.ObjectInfo]]:
        for number, page in enumerate(super().pages(create)):
            if number == 1:
                self.waited_for_copy = self.first_put.wait(timeout=10)
            yield page


class _WatchedDest(S3Store):
    def __init__(self, inner: S3Store, first_put: threading.Event) -> None:
        super().__init__(inner.endpoint, inner.bucket)
        self.first_put = first_put

    def put(self, key: str, data: bytes, **kwargs: Any) -> str:
        etag = super().put(key, data, **kwargs)
        self.first_put.set()
        return etag


def test_copy_starts_on_the_first_listing_page(pair: Pair, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bucket of several listing pages: objects of the first page reach the destination before the
    rest of the source is listed (a large bucket's copy must not wait minutes for its listing), and
    every object arrives intact."""
    monkeypatch.setattr(s3_http, "PAGE_SIZE", 5)
    a, b = pair.a.s3(), pair.b.s3()
    bodies = {f"pages/{i:03d}.bin": os.urandom(1000 + i) for i in range(23)}  # 5 pages
    for key, body in bodies.items():
        a.put_object(Bucket=pair.a.bucket, Key=key, Body=body)
    first_put = threading.Event()
    source = _GatedSource(_store(pair.a.s3_server.endpoint, pair.a.bucket), first_put)
    dest = _WatchedDest(_store(pair.b.s3_server.endpoint, pair.b.bucket), first_put)

    result = media.sync_objects(source, dest, workers=4)

    assert source.waited_for_copy is True  # page 2 was asked for only after a copy had landed
    assert result.copied == len(bodies) and result.objects == len(bodies)
    for key, body in bodies.items():
        stored = b.get_object(Bucket=pair.b.bucket, Key=key)["Body"].read()
        assert hashlib.sha256(stored).digest() == hashlib.sha256(body).digest(), key
    report = media.verify_objects(
        source,
        dest,
        area="media",
        source_listing=result.source_listing,
        dest_listing=result.dest_listing,
        records=result.records,
    )
    assert report.ok and report.sections[0].matched == len(bodies)
