"""Listings begun before the CLI loads (``migrate.cli.prestart``) and taken by the stores, on real moto servers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import SecretStr

from migrate.cli import prestart
from migrate.data import prefetch, s3_http
from migrate.data.endpoints import S3Endpoint
from migrate.data.stores import S3Store
from migrate.errors import MissingBucket
from tests.data.conftest import KEYS, Pair, put_objects


@pytest.fixture(autouse=True)
def _no_spec(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MIGRATE_SPEC", raising=False)
    prefetch._started.clear()


def _store(endpoint: str, bucket: str) -> S3Store:
    return S3Store(S3Endpoint(endpoint, access_key=SecretStr(KEYS[0]), secret_key=SecretStr(KEYS[1])), bucket)


def _sync_args(pair: Pair, *extra: str) -> list[str]:
    return ["data", "sync", *pair.cli_args(), "--no-postgres", *extra]


def test_listings_begun_early_are_the_ones_the_stores_take(pair: Pair, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(s3_http, "PAGE_SIZE", 3)
    made = put_objects(pair.a, 7, 100)
    prestart.begin(_sync_args(pair))
    assert len(prefetch._started) == 2  # source and destination bucket

    source = _store(pair.a.s3_server.endpoint, pair.a.bucket)
    dest = _store(pair.b.s3_server.endpoint, pair.b.bucket)
    assert [len(page) for page in source.pages()] == [3, 3, 1]  # still page by page
    assert dest.list() == {}
    assert prefetch._started == {}  # both taken, once
    assert set(source.list()) == set(made)  # a second listing is made on the spot


def test_a_prefetched_error_reaches_the_store_as_a_fresh_listing_would(pair: Pair) -> None:
    outputs = pair.b.outputs() | {"s3_buckets": {"chirp-media": "no-such-bucket"}}
    files = pair.work / "b-missing.json"
    files.write_text(json.dumps(outputs))
    a, _ = pair.files
    prestart.begin(["data", "verify", "--from-outputs", str(a), "--to-outputs", str(files)])
    assert len(prefetch._started) == 2
    with pytest.raises(MissingBucket):
        _store(pair.b.s3_server.endpoint, "no-such-bucket").list()
    assert _store(pair.b.s3_server.endpoint, "no-such-bucket").list_or_create(create=True) == {}


@pytest.mark.parametrize(
    "args",
    [
        ["-f", "spec.yaml"],  # the spec pairs the buckets: the CLI's job
        ["--no-media"],
    ],
)
def test_nothing_begins_when_the_command_line_does_not_say_for_sure(pair: Pair, args: list[str]) -> None:
    prestart.begin(_sync_args(pair, *args))
    assert prefetch._started == {}


def test_unreadable_outputs_begin_nothing_and_raise_nothing(pair: Pair, tmp_path: Path) -> None:
    (tmp_path / "migrate.yaml").write_text("service: x\n")
    prestart.begin(_sync_args(pair))  # a spec in the working directory
    (tmp_path / "migrate.yaml").unlink()
    prestart.begin(["data", "sync", "--from-outputs", str(tmp_path / "absent.json"), "--to-outputs", "x"])
    prestart.begin(["data", "sync", "--from-outputs"])
    assert prefetch._started == {}
