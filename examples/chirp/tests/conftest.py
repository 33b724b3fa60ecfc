"""Session fixtures for chirp: one Postgres, one S3 server (versitygw), one Redis, one web + worker."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from typing import NamedTuple

import pytest
from chirp_servers import S3, ChirpWeb, ChirpWorker, Postgres, Redis, chirp_env


class Backends(NamedTuple):
    postgres: Postgres
    s3: S3
    redis: Redis


@pytest.fixture(scope="session")
def backends() -> Iterator[Backends]:
    with ExitStack() as stack:
        s3 = stack.enter_context(S3())
        pg = stack.enter_context(Postgres())
        redis = stack.enter_context(Redis())
        yield Backends(pg, s3, redis)


@pytest.fixture(scope="session")
def postgres(backends: Backends) -> Postgres:
    return backends.postgres


@pytest.fixture(scope="session")
def s3(backends: Backends) -> S3:
    return backends.s3


@pytest.fixture(scope="session")
def env(backends: Backends) -> dict[str, str]:
    return chirp_env(backends.postgres.url, backends.s3, backends.redis.url)


@pytest.fixture(scope="session")
def web(env: dict[str, str]) -> Iterator[ChirpWeb]:
    with ChirpWeb(env) as w:
        yield w


@pytest.fixture(scope="session")
def worker(env: dict[str, str], web: ChirpWeb) -> Iterator[ChirpWorker]:
    with ChirpWorker(env) as w:  # after web: web applies the schema first
        yield w
