"""``migrate data sync --redis``: a snapshot of one real redis-server copied to another on loopback.

Redis is a cache, so it is copied only when asked: keys of every type arrive byte for byte
with the time they had left to live; destination keys the source lacks are left alone.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from providers.local.servers.process import free_port
from providers.local.servers.redis import RedisServer
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def redis_pair() -> Iterator[tuple[RedisServer, RedisServer]]:
    base = Path(tempfile.mkdtemp(prefix="migrate-redis-", dir="/tmp"))
    servers = [RedisServer("127.0.0.1", free_port(), base / side, f"redis-{side}-pw-8c1f") for side in ("a", "b")]
    try:
        for server in servers:
            server.start()
        yield servers[0], servers[1]
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(base, ignore_errors=True)


def client(server: RedisServer) -> Any:
    import redis

    return redis.Redis.from_url(server.url)


def content(c: Any, key: bytes) -> tuple[bytes, Any]:
    """A key's type and value, in a form equal whenever the values are (a set's DUMP order is not)."""
    kind = c.type(key)
    read = {
        b"string": c.get,
        b"hash": c.hgetall,
        b"list": lambda k: c.lrange(k, 0, -1),
        b"set": c.smembers,
        b"zset": lambda k: c.zrange(k, 0, -1, withscores=True),
        b"stream": lambda k: c.xrange(k),
    }[kind]
    return kind, read(key)


def outputs(directory: Path, name: str, redis_url: str) -> Path:
    path = directory / f"{name}.json"
    path.write_text(json.dumps({"target": name, "redis_url": redis_url}))
    path.chmod(0o600)
    return path


def sync(tmp_path: Path, a: str, b: str, *extra: str) -> Any:
    return run_cli(
        "data",
        "sync",
        "--from-outputs",
        str(outputs(tmp_path, "a", a)),
        "--to-outputs",
        str(outputs(tmp_path, "b", b)),
        "--no-postgres",
        "--no-media",
        *extra,
        env={"MIGRATE_HOME": str(tmp_path / "home")},
        cwd=tmp_path,
        timeout=120,
    )


def test_snapshot_copies_keys_values_and_ttls(redis_pair: tuple[RedisServer, RedisServer], tmp_path: Path) -> None:
    a, b = redis_pair
    src, dst = client(a), client(b)
    src.flushdb()
    dst.flushdb()
    bulk = {f"session:{n:04d}".encode(): f"user-{n}".encode() * 3 for n in range(1200)}  # several batches
    src.mset(bulk)
    src.set(b"bin\x00key\xff", bytes(range(256)))
    src.hset("user:1", mapping={"name": "ada", "karma": "42"})
    src.rpush("timeline:1", "p3", "p2", "p1")
    src.sadd("tags", "a", "b", "c")
    src.zadd("leaders", {"ada": 3.5, "bob": 1.25})
    src.xadd("events", {"kind": "post"})
    src.set("ttl:long", "x", ex=3600)
    src.set("ttl:ms", "y", px=90_000)
    for n in range(0, 1200, 100):
        src.expire(f"session:{n:04d}", 7200)
    dst.set("user:1", "stale value of another type")  # replaced
    dst.set("only-at-dest", "kept")  # left alone

    result = sync(tmp_path, a.url, b.url, "--redis", "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    expected = set(src.keys())
    assert doc["redis"]["copied"] and doc["redis"]["keys"] == len(expected) == 1200 + 8
    assert a.password not in result.stdout + result.stderr and b.password not in result.stdout + result.stderr

    assert set(dst.keys()) == expected | {b"only-at-dest"}
    for key in expected:
        assert content(dst, key) == content(src, key), key
    assert {content(dst, key)[0] for key in expected} == {b"string", b"hash", b"list", b"set", b"zset", b"stream"}
    assert dst.get(b"bin\x00key\xff") == bytes(range(256))
    assert dst.hgetall("user:1") == {b"name": b"ada", b"karma": b"42"}
    assert dst.zrange("leaders", 0, -1, withscores=True) == [(b"bob", 1.25), (b"ada", 3.5)]
    assert dst.get("only-at-dest") == b"kept"
    for key in (b"ttl:long", b"ttl:ms", b"session:0000", b"session:1100"):
        left_src, left_dst = src.pttl(key), dst.pttl(key)
        assert 0 < left_dst <= left_src + 50 and left_src - left_dst < 30_000, (key, left_src, left_dst)
    assert dst.pttl("tags") == -1 and dst.pttl("session:0001") == -1  # no expiry stays none

    # Without --redis nothing is copied, and the output says why.
    dst.delete("tags")
    plain = sync(tmp_path, a.url, b.url)
    assert plain.returncode == 0, plain.stderr
    assert "Redis holds a cache" in plain.stdout and not dst.exists("tags")


def test_unreachable_or_refused_redis_is_one_clear_line(
    redis_pair: tuple[RedisServer, RedisServer], tmp_path: Path
) -> None:
    a, b = redis_pair
    wrong = f"redis://:not-the-pw-5e2a@{b.host}:{b.port}/0"
    dead = f"redis://:dead-pw-77d0@127.0.0.1:{free_port()}/0"
    for dest, words in ((wrong, "destination Redis"), (dead, "destination Redis")):
        result = sync(tmp_path, a.url, dest, "--redis")
        assert result.returncode == 1
        last = result.stderr.strip().splitlines()[-1]
        assert words in last and dest.rsplit("@", 1)[1].split("/")[0] in last and "Traceback" not in result.stderr
        assert "not-the-pw" not in result.stderr and "dead-pw" not in result.stderr
