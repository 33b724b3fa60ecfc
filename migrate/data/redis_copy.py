"""Redis is a cache: the service rebuilds it, so a move does not need it. Optionally copy a snapshot.

Keys are copied with DUMP/RESTORE in pipelined batches: every type, byte for byte, with the
time each key has left to live (read with its value in one MULTI, so the pair agrees). It is
not one atomic snapshot of the whole keyspace: each batch is read as it is at that moment.
Keys at the destination are replaced when the source has them and otherwise left alone.
DUMP payloads carry an RDB version: a destination Redis older than the source's refuses them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from migrate.data.progress import ProgressCallback, Reporter
from migrate.errors import MigrateError
from migrate.redact import redact

NOTE = "Redis holds a cache: it is not moved by default (--redis copies a snapshot of its keys)."
DEFAULT_BATCH = 500


@dataclass
class RedisCopyResult:
    keys: int = 0
    bytes: int = 0
    expired: int = 0  # gone between the listing and the copy
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "copied": True,
            "keys": self.keys,
            "bytes": self.bytes,
            "expired": self.expired,
            "seconds": round(self.seconds, 3),
        }


def _where(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or 6379}{parts.path or '/0'}"


def _open(url: str, side: str) -> Any:
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=60)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise MigrateError(f"cannot reach the {side} Redis at {_where(url)}: {redact(str(exc))}") from None
    return client


def copy_snapshot(
    source_url: str, dest_url: str, *, batch: int = DEFAULT_BATCH, progress: ProgressCallback | None = None
) -> RedisCopyResult:
    """Copy every key of the source's database to the destination's, TTLs kept."""
    import redis

    started = time.monotonic()
    result = RedisCopyResult()
    reporter = Reporter(progress, "redis snapshot", "keys")
    src, dst = _open(source_url, "source"), _open(dest_url, "destination")
    try:
        reporter.start(total=int(src.dbsize()))
        keys: list[bytes] = []
        for key in src.scan_iter(count=batch):
            keys.append(key)
            if len(keys) >= batch:
                _copy(src, dst, keys, result, reporter)
                keys = []
        if keys:
            _copy(src, dst, keys, result, reporter)
    except redis.RedisError as exc:
        raise MigrateError(
            f"redis snapshot copy {_where(source_url)} -> {_where(dest_url)} failed: {redact(str(exc))}"
        ) from None
    finally:
        src.close()
        dst.close()
    result.seconds = time.monotonic() - started
    return result


def _copy(src: Any, dst: Any, keys: list[bytes], result: RedisCopyResult, reporter: Reporter) -> None:
    read = src.pipeline(transaction=True)
    for key in keys:
        read.dump(key)
        read.pttl(key)
    # PTTLs count from the read: the time from sending it to queueing the writes is taken
    # off, so a key never outlives its source by the copy's latency (tens of ms under load).
    read_started = time.monotonic()
    values = read.execute()
    elapsed_ms = int((time.monotonic() - read_started) * 1000) + 1
    write = dst.pipeline(transaction=False)
    copied = size = 0
    for index, key in enumerate(keys):
        payload, ttl = values[2 * index], int(values[2 * index + 1])
        if payload is None or ttl == -2:  # expired or deleted since the listing
            result.expired += 1
            continue
        # PTTL -1: no expiry (RESTORE's 0). 0 ms left must not become "never expires".
        write.restore(key, 0 if ttl == -1 else max(ttl - elapsed_ms, 1), payload, replace=True)
        copied += 1
        size += len(payload)
    write.execute()
    result.keys += copied
    result.bytes += size
    reporter.advance(copied, size)
