"""Media copy benchmark: migrate vs rclone between two S3-compatible (moto) servers on loopback.

    python bench/media_sync.py [--small 2000] [--large 20] [--workers 16]

Prints: the servers' own limit (GET everything from A while PUTting the same bytes to B, from
memory, 16 threads: the fastest any copy can be here), migrate's first copy and unchanged
re-sync, rclone's first copy and re-sync (default and --size-only --fast-list), and ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from providers.local.servers.process import free_port  # noqa: E402
from providers.local.servers.s3 import S3Server, s3_client  # noqa: E402

KEYS = ("bench-access", "bench-secret-key")
RCLONE_FLAGS = ["--transfers", "16", "--checkers", "32", "--fast-list", "--s3-upload-concurrency", "4",
                "--s3-chunk-size", "8M", "--s3-disable-checksum", "--no-update-modtime"]


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def seed(client, bucket: str, objects: dict[str, bytes], workers: int) -> None:
    from boto3.s3.transfer import TransferConfig

    config = TransferConfig(multipart_threshold=8 * 1024 * 1024, multipart_chunksize=8 * 1024 * 1024)

    def put(item: tuple[str, bytes]) -> None:
        import io

        client.upload_fileobj(io.BytesIO(item[1]), bucket, item[0], Config=config)

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(put, objects.items()))


def empty_bucket(client, bucket: str) -> None:
    keys = [o["Key"] for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
            for o in page.get("Contents", [])]
    for i in range(0, len(keys), 1000):
        client.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys[i:i + 1000]]})
    client.delete_bucket(Bucket=bucket)


def server_limit(src, dst, bucket_a: str, bucket_b: str, objects: dict[str, bytes], workers: int) -> float:
    """GET all from A and PUT all to B at once, from memory: the servers' ceiling for a copy."""
    dst.create_bucket(Bucket=bucket_b)
    keys = list(objects)

    def get(key: str) -> None:
        src.get_object(Bucket=bucket_a, Key=key)["Body"].read()

    started = time.perf_counter()
    with ThreadPoolExecutor(2) as outer:
        a = outer.submit(lambda: list(ThreadPoolExecutor(workers // 2 or 1).map(get, keys)))
        b = outer.submit(seed, dst, bucket_b, objects, workers // 2 or 1)
        a.result()
        b.result()
    return time.perf_counter() - started


def rclone(args: list[str], conf: Path) -> float:
    env = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}
    started = time.perf_counter()
    subprocess.run(["rclone", "--config", str(conf), *args], check=True, env=env, capture_output=True)
    return time.perf_counter() - started


def migrate_sync(work: Path, a: S3Server, b: S3Server, bucket_a: str, bucket_b: str, workers: int) -> dict:
    files = []
    for name, server, bucket in (("a", a, bucket_a), ("b", b, bucket_b)):
        path = work / f"{name}.json"
        path.write_text(json.dumps({"target": name, "s3_endpoint": server.endpoint, "s3_access_key": KEYS[0],
                                    "s3_secret_key": KEYS[1], "s3_buckets": {"media": bucket}}))
        files.append(path)
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "migrate", "data", "sync", "--no-postgres", "--from-outputs",
                             str(files[0]), "--to-outputs", str(files[1]), "--workers", str(workers), "--json"],
                            cwd=work, env={**os.environ, "PYTHONPATH": str(REPO), "MIGRATE_HOME": str(work / "home")},
                            capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"migrate failed: {result.stderr}")
    doc = json.loads(result.stdout)
    return {"seconds": elapsed, "copied": doc["media"][0]["copied"], "ok": doc["ok"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=2000)
    parser.add_argument("--large", type=int, default=20)
    parser.add_argument("--workers", type=int, default=16)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-media-"))
    a = S3Server("127.0.0.1", free_port(), work / "a.log")
    b = S3Server("127.0.0.1", free_port(), work / "b.log")
    try:
        a.start()
        b.start()
        src, dst = s3_client(a.endpoint, *KEYS), s3_client(b.endpoint, *KEYS)
        objects = {f"small/{i:05d}.jpg": os.urandom(50_000) for i in range(args.small)}
        objects |= {f"large/{i:03d}.mp4": os.urandom(20 * 1024 * 1024) for i in range(args.large)}
        total = sum(len(v) for v in objects.values())
        src.create_bucket(Bucket="source-media")
        seed_s = timed(lambda: seed(src, "source-media", objects, args.workers))
        limit_s = server_limit(src, dst, "source-media", "limit-probe", objects, args.workers)
        empty_bucket(dst, "limit-probe")
        objects.clear()  # free the memory before the copies

        conf = work / "rclone.conf"
        conf.write_text("".join(
            f"[{n}]\ntype = s3\nprovider = Other\nendpoint = {s.endpoint}\naccess_key_id = {KEYS[0]}\n"
            f"secret_access_key = {KEYS[1]}\nforce_path_style = true\n\n" for n, s in (("a", a), ("b", b))))
        dst.create_bucket(Bucket="by-rclone")
        rclone_first = rclone(["sync", "a:source-media", "b:by-rclone", *RCLONE_FLAGS], conf)
        rclone_default = rclone(["sync", "a:source-media", "b:by-rclone"], conf)
        rclone_fast = rclone(["sync", "a:source-media", "b:by-rclone", "--size-only", "--fast-list",
                              "--checkers", "32"], conf)
        empty_bucket(dst, "by-rclone")

        dst.create_bucket(Bucket="by-migrate")
        first = migrate_sync(work, a, b, "source-media", "by-migrate", args.workers)
        again = migrate_sync(work, a, b, "source-media", "by-migrate", args.workers)
        assert first["ok"] and again["ok"] and again["copied"] == 0
        mib = total / 1024 / 1024
        print(f"data set: {args.small} x 50 KB + {args.large} x 20 MiB = {mib:.0f} MiB, {args.workers} workers")
        print(f"server ingest (seeding A, PUT only)      {seed_s:7.2f} s")
        print(f"server limit (GET A + PUT B at once)     {limit_s:7.2f} s  {mib / limit_s:6.1f} MiB/s")
        print(f"rclone sync, first copy (tuned flags)    {rclone_first:7.2f} s")
        rate = mib / first["seconds"]
        print(f"migrate data sync, first copy (+verify)  {first['seconds']:7.2f} s  {rate:6.1f} MiB/s")
        print(f"rclone re-sync, default                  {rclone_default:7.2f} s")
        print(f"rclone re-sync, --size-only --fast-list  {rclone_fast:7.2f} s")
        print(f"migrate re-sync (unchanged, +verify)     {again['seconds']:7.2f} s")
        print(f"ratio first copy: rclone / migrate = {rclone_first / first['seconds']:.2f}x (goal >= 1.5)")
        print(f"ratio first copy: migrate / server limit = {first['seconds'] / limit_s:.2f} (goal <= 1.10)")
        print(f"ratio re-sync: rclone fastest / migrate = {rclone_fast / again['seconds']:.2f}x (goal >= 1.0)")
    finally:
        a.stop()
        b.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
