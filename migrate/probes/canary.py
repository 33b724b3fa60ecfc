"""The data-layer canary: RPO figures for an app migrate knows nothing about.

While a drill's load runs, migrate writes its own heartbeat rows into a table of its own
(``migrate_canary``) in the source's database and small canary objects into each of its buckets
(under ``migrate-canary/``), recording each one the source acknowledged. After recovery it
counts which of them the destination lacks. The table is created before replication starts (so
a warm standby carries it like the app's tables) and dropped at teardown with the objects.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from migrate.outputs import TargetOutputs
    from migrate.spec.model import ServiceSpec

TABLE = "migrate_canary"
PREFIX = "migrate-canary/"
CONNECT_TIMEOUT = 3


def _connect(out: TargetOutputs) -> Any:
    import psycopg

    assert out.database_url is not None
    return psycopg.connect(out.database_url.get_secret_value(), autocommit=True, connect_timeout=CONNECT_TIMEOUT)


def prepare(out: TargetOutputs) -> bool:
    """Create the heartbeat table on the source (False: the service has no database)."""
    if out.database_url is None:
        return False
    with _connect(out) as conn:
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {TABLE} (seq bigint PRIMARY KEY, run text NOT NULL, "
            "written_at timestamptz NOT NULL DEFAULT now())"
        )
    return True


def _buckets(spec: ServiceSpec, out: TargetOutputs) -> dict[str, str]:
    """Spec bucket name -> the target's bucket name."""
    if spec.media is None or not out.s3_endpoint:
        return {}
    return {b.name: out.s3_buckets.get(b.name, b.name) for b in spec.media.buckets}


def _s3(out: TargetOutputs) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=out.s3_endpoint,
        region_name=out.s3_region,
        aws_access_key_id=out.s3_access_key.get_secret_value() if out.s3_access_key else None,
        aws_secret_access_key=out.s3_secret_key.get_secret_value() if out.s3_secret_key else None,
        config=Config(connect_timeout=CONNECT_TIMEOUT, read_timeout=5, retries={"max_attempts": 1}),
    )


def _keys(client: Any, bucket: str) -> set[str]:
    keys: set[str] = set()
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=PREFIX):
        keys.update(item["Key"] for item in page.get("Contents", []))
    return keys


class Canary:
    """Heartbeats at ``rows_per_second`` and one object per bucket at ``objects_per_second``,
    in a thread of the drill's process (the database and S3 credentials stay in it)."""

    def __init__(
        self,
        spec: ServiceSpec,
        out: TargetOutputs,
        log: Path,
        *,
        rows_per_second: float = 10.0,
        objects_per_second: float = 2.0,
    ) -> None:
        self.spec, self.out, self.log = spec, out, log
        self.rows_interval, self.objects_interval = 1 / rows_per_second, 1 / objects_per_second
        self.run = uuid.uuid4().hex[:12]
        self.stop_event = threading.Event()
        self.lock = threading.Lock()
        self.threads: list[threading.Thread] = []

    def _record(self, record: dict[str, Any]) -> None:
        with self.lock, self.log.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")

    def _rows(self) -> None:
        seq, conn = 0, None
        while not self.stop_event.is_set():
            sent_at = time.time()
            try:
                conn = conn or _connect(self.out)
                conn.execute(f"INSERT INTO {TABLE} (seq, run) VALUES (%s, %s)", (seq, self.run))
                self._record({"kind": "row", "seq": seq, "sent_at": sent_at, "acked_at": time.time()})
            except Exception:  # the source dying is the point: no ack, try again next beat
                with contextlib.suppress(Exception):
                    conn and conn.close()
                conn = None
            seq += 1
            self.stop_event.wait(max(0.0, sent_at + self.rows_interval - time.time()))
        with contextlib.suppress(Exception):
            conn and conn.close()

    def _objects(self) -> None:
        client = _s3(self.out)
        seq = 0
        while not self.stop_event.is_set():
            sent_at = time.time()
            for name, bucket in _buckets(self.spec, self.out).items():
                key = f"{PREFIX}{self.run}/{seq:07d}"
                try:
                    client.put_object(Bucket=bucket, Key=key, Body=f"{self.run} {seq}".encode())
                except Exception:
                    continue
                self._record(
                    {
                        "kind": "object",
                        "bucket": name,
                        "key": key,
                        "seq": seq,
                        "sent_at": sent_at,
                        "acked_at": time.time(),
                    }
                )
            seq += 1
            self.stop_event.wait(max(0.0, sent_at + self.objects_interval - time.time()))

    def start(self) -> None:
        if self.out.database_url is not None:
            self.threads.append(threading.Thread(target=self._rows, daemon=True, name="canary-rows"))
        if _buckets(self.spec, self.out):
            self.threads.append(threading.Thread(target=self._objects, daemon=True, name="canary-objects"))
        for thread in self.threads:
            thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        self.stop_event.set()
        for thread in self.threads:
            thread.join(timeout)


def read_acks(log: Path) -> list[dict[str, Any]]:
    acks = []
    if log.exists():
        for line in log.read_text(encoding="utf-8").splitlines():
            with contextlib.suppress(json.JSONDecodeError):
                acks.append(json.loads(line))
    return acks


def missing(
    spec: ServiceSpec, dest: TargetOutputs, acks: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(rows, objects) the source acknowledged that ``dest`` lacks. Buckets map by spec name."""
    rows = [a for a in acks if a["kind"] == "row"]
    objects = [a for a in acks if a["kind"] == "object"]
    lost_rows: list[dict[str, Any]] = []
    if rows and dest.database_url is not None:
        with _connect(dest) as conn:
            present = {
                int(r[0])
                for r in conn.execute(f"SELECT seq FROM {TABLE} WHERE seq = ANY(%s)", ([a["seq"] for a in rows],))
            }
        lost_rows = [a for a in rows if a["seq"] not in present]
    lost_objects: list[dict[str, Any]] = []
    if objects:
        buckets = _buckets(spec, dest)
        client = _s3(dest) if buckets else None
        held = {name: _keys(client, bucket) for name, bucket in buckets.items()}
        lost_objects = [a for a in objects if a["key"] not in held.get(a["bucket"], set())]
    return lost_rows, lost_objects


def remove(spec: ServiceSpec, out: TargetOutputs) -> None:
    """Drop the heartbeat table and delete the canary objects (on a target that answers)."""
    if out.database_url is not None:
        with _connect(out) as conn:
            conn.execute(f"DROP TABLE IF EXISTS {TABLE}")
    buckets = _buckets(spec, out)
    if buckets:
        client = _s3(out)
        for bucket in buckets.values():
            for key in sorted(_keys(client, bucket)):
                client.delete_object(Bucket=bucket, Key=key)
