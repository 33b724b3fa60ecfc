"""The botocore-free listing: signatures equal botocore's, listings equal botocore's on a real moto server."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from migrate.data import s3_listing
from migrate.data.endpoints import S3Endpoint
from migrate.data.stores import MissingBucket, S3Store
from providers.local.servers.process import free_port
from providers.local.servers.s3 import S3Server, s3_client

KEYS = ("listing-access", "listing-secret/key+x")
NOW = datetime(2026, 11, 25, 15, 4, 5, tzinfo=UTC)


def _botocore_headers(url: str, region: str) -> dict[str, str]:
    """What botocore's own S3 SigV4 signer sends for the same bodiless GET at ``NOW``."""
    from unittest import mock

    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(method="GET", url=url)
    with mock.patch("botocore.auth.get_current_datetime", return_value=NOW.replace(tzinfo=None)):
        S3SigV4Auth(Credentials(*KEYS), "s3", region).add_auth(request)
    return dict(request.headers.items())


@pytest.mark.parametrize(("endpoint", "query"), [
    ("http://127.0.0.1:9000", {"list-type": "2", "encoding-type": "url", "prefix": ""}),
    ("http://127.0.0.1:9000", {"list-type": "2", "encoding-type": "url", "prefix": "a b/ü+&=~*'"}),
    ("https://s3.example.test", {"list-type": "2", "encoding-type": "url", "prefix": "x/",
                                 "continuation-token": "1/AbC+dE=="}),
    ("https://s3.example.test:8443/base", {"list-type": "2", "encoding-type": "url", "prefix": "p"}),
])
@pytest.mark.parametrize("region", ["us-east-1", "eu-central-2"])
def test_signature_equals_botocore(endpoint: str, query: dict[str, str], region: str) -> None:
    from botocore.utils import percent_encode_sequence  # how botocore writes a request's query string

    url = f"{endpoint}/bucket-1"
    ours = s3_listing.sign_get(url, query, region=region, access_key=KEYS[0], secret_key=KEYS[1], now=NOW)
    theirs = _botocore_headers(f"{url}?{percent_encode_sequence(query)}", region)
    assert ours["Authorization"] == theirs["Authorization"]
    assert ours["X-Amz-Date"] == theirs["X-Amz-Date"]
    assert ours["X-Amz-Content-SHA256"] == theirs["X-Amz-Content-SHA256"]


@pytest.fixture(scope="module")
def server() -> Iterator[S3Server]:
    base = Path(tempfile.mkdtemp(prefix="migrate-listing-"))
    s3 = S3Server("127.0.0.1", free_port(), base / "s3.log")
    try:
        s3.start()
        yield s3
    finally:
        s3.stop()
        shutil.rmtree(base, ignore_errors=True)


def _store(server: S3Server, bucket: str, prefix: str = "") -> S3Store:
    return S3Store(S3Endpoint(server.endpoint, access_key=SecretStr(KEYS[0]), secret_key=SecretStr(KEYS[1])),
                   bucket, prefix)


def _botocore_listing(client: Any, bucket: str, prefix: str = "") -> dict[str, tuple[int, str]]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return {o["Key"][len(prefix):]: (o["Size"], o["ETag"].strip('"')) for p in pages for o in p.get("Contents", [])}


def test_listing_equals_botocore_across_pages_and_odd_keys(server: S3Server, monkeypatch: pytest.MonkeyPatch) -> None:
    client = s3_client(server.endpoint, *KEYS)
    client.create_bucket(Bucket="odd-keys")
    odd = ["a b.jpg", "plus+sign.png", "ü/ñ.txt", "amp&eq=.bin", "quote'\"<>.txt", "pct%20.txt", "tilde~*.x",
           "deep/er/than/that.mp4", "sp ace/inner file"]
    for key in odd:
        client.put_object(Bucket="odd-keys", Key=key, Body=key.encode())
    for index in range(6):
        client.put_object(Bucket="odd-keys", Key=f"many/{index:05d}", Body=b"x" * index)
    monkeypatch.setattr(s3_listing, "PAGE_SIZE", 4)  # several pages, continuation tokens
    monkeypatch.setattr(S3Store, "client", property(lambda self: pytest.fail("listing built a botocore client")))
    lean = _store(server, "odd-keys").list()
    assert {k: (v.size, v.etag) for k, v in lean.items()} == _botocore_listing(client, "odd-keys")
    assert len(lean) == len(odd) + 6
    under = _store(server, "odd-keys", "sp ace").list()
    assert {k: (v.size, v.etag) for k, v in under.items()} == _botocore_listing(client, "odd-keys", "sp ace/")
    assert list(under) == ["inner file"]


def test_missing_bucket_is_reported_or_created(server: S3Server) -> None:
    store = _store(server, "not-there-yet")
    with pytest.raises(MissingBucket, match="not-there-yet does not exist"):
        store.list_or_create()
    assert store.list_or_create(create=True) == {}
    assert store.list() == {}


def test_unreachable_endpoint_is_one_clear_error() -> None:
    from migrate.errors import MigrateError

    store = S3Store(S3Endpoint(f"http://127.0.0.1:{free_port()}", access_key=SecretStr(KEYS[0]),
                               secret_key=SecretStr(KEYS[1])), "media")
    with pytest.raises(MigrateError, match="cannot reach S3 endpoint"):
        store.list()
