"""Two real Postgres 15 clusters and two real S3 servers (versitygw, objects on disk, each with the
sandbox's event listener) on loopback, per module; and, for what only AWS has (S3 notifications
into SQS), moto as the AWS emulator."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from providers.local.servers.postgres import PostgresServer
from providers.local.servers.process import free_port
from providers.local.servers.s3 import S3Server, s3_client
from providers.local.servers.s3_events import EventListener
from tests.moto_aws import MotoAws

APP_USER = "chirp"
APP_PASSWORD = "chirp-app-pw-123"
KEYS = ("test-access", "test-secret-key-xyz")
_counter = itertools.count()


@dataclass
class Side:
    name: str
    pg: PostgresServer
    s3_server: S3Server | MotoAws
    database: str
    bucket: str
    events_url: str | None = None
    provider: str = "local"

    @property
    def app_url(self) -> str:
        return self.pg.url(APP_USER, APP_PASSWORD, self.database)

    @property
    def admin_url(self) -> str:
        return self.pg.url(database=self.database)

    def s3(self) -> Any:
        return s3_client(self.s3_server.endpoint, *KEYS)

    def sql(self, query: str, *, admin: bool = False) -> list[tuple[Any, ...]]:
        import psycopg

        with psycopg.connect(self.admin_url if admin else self.app_url, autocommit=True) as conn:
            cursor = conn.execute(query)
            return cursor.fetchall() if cursor.description else []

    def outputs(self) -> dict[str, Any]:
        return {
            "target": self.name,
            "provider": self.provider,
            "public_addresses": ["127.0.0.1"],
            "health_url": "http://127.0.0.1/healthz",
            "database_url": self.app_url,
            "s3_endpoint": self.s3_server.endpoint,
            "s3_access_key": KEYS[0],
            "s3_secret_key": KEYS[1],
            "s3_buckets": {"chirp-media": self.bucket},
            **({"s3_events_url": self.events_url} if self.events_url else {}),
        }

    def write_outputs(self, directory: Path) -> Path:
        path = directory / f"{self.name}.json"
        path.write_text(json.dumps(self.outputs()))
        path.chmod(0o600)
        return path


@dataclass
class Servers:
    base: Path
    pg_a: PostgresServer
    pg_b: PostgresServer
    s3_a: S3Server
    s3_b: S3Server
    events: dict[str, EventListener]


@pytest.fixture(scope="module")
def servers() -> Iterator[Servers]:
    base = Path(tempfile.mkdtemp(prefix="migrate-data-", dir="/tmp"))
    base.chmod(0o755)
    pg_a = PostgresServer(base / "pg-a", "127.0.0.1", free_port(), "super-a-pw")
    pg_b = PostgresServer(base / "pg-b", "127.0.0.1", free_port(), "super-b-pw")
    events = {name: EventListener("127.0.0.1", free_port(), base / f"events-{name}") for name in ("a", "b")}
    s3_a = S3Server(
        "127.0.0.1", free_port(), base / "s3-a", *KEYS, access_log=True, event_webhook_url=events["a"].webhook_url
    )
    s3_b = S3Server(
        "127.0.0.1", free_port(), base / "s3-b", *KEYS, access_log=True, event_webhook_url=events["b"].webhook_url
    )
    started: list[Any] = []
    try:
        for server in (pg_a, pg_b):
            server.init()
            server.start()
            started.append(server)
        for listener in events.values():
            listener.write_token(KEYS[1])
            listener.start()
            started.append(listener)
        for s3 in (s3_a, s3_b):
            s3.start()
            started.append(s3)
        yield Servers(base, pg_a, pg_b, s3_a, s3_b, events)
    finally:
        for server in started:
            server.stop()
        shutil.rmtree(base, ignore_errors=True)


@dataclass
class Pair:
    a: Side
    b: Side
    work: Path

    @property
    def files(self) -> tuple[Path, Path]:
        return self.a.write_outputs(self.work), self.b.write_outputs(self.work)

    def env(self, **extra: str) -> dict[str, str]:
        return {"MIGRATE_HOME": str(self.work / "home"), "MIGRATE_TO_ADMIN_URL": self.b.admin_url, **extra}

    def cli_args(self) -> list[str]:
        a, b = self.files
        return ["--from-outputs", str(a), "--to-outputs", str(b)]


@pytest.fixture
def pair(servers: Servers, tmp_path: Path) -> Pair:
    """Fresh databases and buckets on both sides (servers are shared by the module)."""
    n = next(_counter)
    sides = []
    for name, pg, s3, feed in (
        ("site-a", servers.pg_a, servers.s3_a, servers.events["a"]),
        ("site-b", servers.pg_b, servers.s3_b, servers.events["b"]),
    ):
        database, bucket = f"chirp{n}", f"media-{name}-{n}"
        pg.ensure_database(APP_USER, APP_PASSWORD, database)
        s3_client(s3.endpoint, *KEYS).create_bucket(Bucket=bucket)
        side = Side(name, pg, s3, database, bucket, feed.feed_url)
        sides.append(side)
    return Pair(sides[0], sides[1], tmp_path)


@pytest.fixture(scope="module")
def aws(servers: Servers) -> Iterator[MotoAws]:
    """moto as AWS: S3 notifications into SQS exist only there."""
    moto = MotoAws("127.0.0.1", free_port(), servers.base / "moto.log")
    moto.start()
    try:
        yield moto
    finally:
        moto.stop()


@pytest.fixture
def aws_pair(pair: Pair, aws: MotoAws) -> Pair:
    """A pair whose source is "AWS" (moto) and whose destination is a real S3 server."""
    a = pair.a
    bucket = a.bucket + "-aws"
    s3_client(aws.endpoint, *KEYS).create_bucket(Bucket=bucket)
    return Pair(Side(a.name, a.pg, aws, a.database, bucket, None, "aws"), pair.b, pair.work)


def put_objects(side: Side, count: int, size: int, prefix: str = "img/") -> dict[str, bytes]:
    client = s3_client(side.s3_server.endpoint, *KEYS)
    made = {}
    for index in range(count):
        body = os.urandom(size)
        key = f"{prefix}{index:05d}.bin"
        client.put_object(Bucket=side.bucket, Key=key, Body=body)
        made[key] = body
    return made


BACKUP_KEY = "k3y-" + "w" * 40


def backup_media(pair: Pair, location: Path) -> dict[str, Any]:
    """``data backup --encrypt --no-postgres`` of A's media to ``location``, through the CLI."""
    from tests.conftest import run_cli

    a, _ = pair.files
    made = run_cli(
        "data",
        "backup",
        "--from-outputs",
        str(a),
        "--to",
        str(location),
        "--encrypt",
        "--no-postgres",
        "--json",
        env=pair.env(MIGRATE_BACKUP_KEY=BACKUP_KEY),
    )
    assert made.returncode == 0, made.stderr
    document: dict[str, Any] = json.loads(made.stdout)
    return document


def restore_media(pair: Pair, location: Path) -> dict[str, Any]:
    """``data restore`` of that backup onto B, through the CLI; its verify must pass."""
    from tests.conftest import run_cli

    _, b = pair.files
    env = pair.env(MIGRATE_BACKUP_KEY=BACKUP_KEY)
    back = run_cli(
        "data", "restore", "--from", str(location), "--to-outputs", str(b), "--service", "site-a", "--json", env=env
    )
    assert back.returncode == 0, back.stderr
    document: dict[str, Any] = json.loads(back.stdout)
    assert document["verify"]["ok"]
    return document
