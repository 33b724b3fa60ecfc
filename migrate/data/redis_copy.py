"""Redis is a cache: the service rebuilds it, so a move does not need it. Optionally copy a snapshot.

Keys are copied with DUMP/RESTORE (values and TTLs as they are at the moment each key is
read, so not one atomic snapshot), in pipelined batches.
"""

from __future__ import annotations

from dataclasses import dataclass

from migrate.data.progress import ProgressCallback, Reporter
from migrate.errors import MigrateError
from migrate.redact import redact

NOTE = "Redis holds a cache: it is not moved by default (--redis copies a snapshot of its keys)."


@dataclass
class RedisCopyResult:
    keys: int = 0
    seconds: float = 0.0


def copy_snapshot(source_url: str, dest_url: str, *, batch: int = 500,
                  progress: ProgressCallback | None = None) -> RedisCopyResult:
    import time

    import redis

    started = time.monotonic()
    result = RedisCopyResult()
    reporter = Reporter(progress, "redis snapshot", "keys")
    try:
        src = redis.Redis.from_url(source_url, socket_connect_timeout=5)
        dst = redis.Redis.from_url(dest_url, socket_connect_timeout=5)
        reporter.start(total=int(src.dbsize()))
        keys: list[bytes] = []
        for key in src.scan_iter(count=batch):
            keys.append(key)
            if len(keys) >= batch:
                result.keys += _copy(src, dst, keys)
                reporter.advance(len(keys))
                keys = []
        if keys:
            result.keys += _copy(src, dst, keys)
            reporter.advance(len(keys))
    except redis.RedisError as exc:
        raise MigrateError(f"redis snapshot copy failed: {redact(str(exc))}") from None
    result.seconds = time.monotonic() - started
    return result


def _copy(src: object, dst: object, keys: list[bytes]) -> int:
    read = src.pipeline(transaction=False)  # type: ignore[attr-defined]
    for key in keys:
        read.dump(key)
        read.pttl(key)
    values = read.execute()
    write = dst.pipeline(transaction=False)  # type: ignore[attr-defined]
    copied = 0
    for index, key in enumerate(keys):
        payload, ttl = values[2 * index], values[2 * index + 1]
        if payload is None:  # expired meanwhile
            continue
        write.restore(key, max(int(ttl), 0), payload, replace=True)
        copied += 1
    write.execute()
    return copied
