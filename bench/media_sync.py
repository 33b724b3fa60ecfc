"""Media copy benchmark: migrate vs rclone vs s5cmd between two real S3 servers (versitygw) on loopback.

    python bench/media_sync.py [--quick] [--small 2000] [--large 20] [--workers 16] [--many 0]

Prints, from one run: the servers' own limit (the best of several bare copy pipelines: list A and,
from its first page on, one GET from A and one PUT to B per object, no hashing or bookkeeping, at
8/16/32 threads before the tools and at the best of those after them, and rclone's own copy when
it is faster), migrate's first copy and unchanged re-sync with its own lean requests (``s3_http``)
and with botocore alone (``MIGRATE_S3_CLIENT=botocore``), rclone's first copy (tuned flags) and
re-sync (default, and --size-only --fast-list), s5cmd's, and the ratios the issue sets goals for.
s5cmd cannot copy between two endpoints (its S3-to-S3 copy is the server's CopyObject): its copy
is a download from A to a local directory and an upload from there to B, and its re-sync two
``s5cmd sync`` runs the same way; said so in the table. Each tool's peak RSS is its own (wait4).
``--many N``: then a second data set of N objects of 2 KB (e.g. 100000), the same tools on it
(first copy and re-sync), to show how the cost grows. ``--quick``: 500 x 50 KB + 5 x 20 MiB.
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

from s3_pair import rclone_conf, s3_pair  # noqa: E402

from providers.local.servers.s3 import VERSITYGW_VERSION, S3Server, s3_client  # noqa: E402

KEYS = ("bench-access", "bench-secret-key")
# rclone at its best here: one GET and one PUT per object (--s3-no-head: no HEAD after each upload,
# which rclone does by default; it still checks the PUT's ETag against the MD5 it computed), no
# bucket check, no MD5 metadata, listing in one go with ListObjectsV2 (cheaper for moto than v1).
RCLONE_FLAGS = [
    "--transfers",
    "16",
    "--checkers",
    "32",
    "--fast-list",
    "--s3-upload-concurrency",
    "4",
    "--s3-chunk-size",
    "8M",
    "--s3-disable-checksum",
    "--s3-no-head",
    "--s3-no-check-bucket",
    "--s3-list-version",
    "2",
    "--no-update-modtime",
]
RCLONE_FASTEST_RESYNC = ["--size-only", "--fast-list", "--checkers", "32", "--s3-no-check-bucket"]


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
    keys = [
        o["Key"]
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        for o in page.get("Contents", [])
    ]
    for i in range(0, len(keys), 1000):
        client.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys[i : i + 1000]]})
    client.delete_bucket(Bucket=bucket)


def probe_client(endpoint: str, connections: int):
    """A boto client for the bench's bookkeeping (buckets): no checksums, no payload hashing."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=KEYS[0],
        aws_secret_access_key=KEYS[1],
        region_name="us-east-1",
        config=Config(
            s3={"addressing_style": "path", "payload_signing_enabled": False},
            max_pool_connections=connections,
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        ),
    )


def copy_pipeline(a: S3Server, b: S3Server, bucket_a: str, bucket_b: str, threads: int) -> float:
    """A bare copy: list A page by page and, from the first page on, per object one GET from A and one
    PUT of the same bytes to B (larger objects first within a page), as migrate and rclone do.

    With migrate's own cheapest requests (``s3_http``: listing, GET and PUT without botocore), so
    the probe is never slower than migrate for want of a leaner client.
    """
    from migrate.data import s3_http

    src = s3_http.Endpoint(a.endpoint, "us-east-1", *KEYS)
    dst = s3_http.Endpoint(b.endpoint, "us-east-1", *KEYS)
    probe_client(b.endpoint, 1).create_bucket(Bucket=bucket_b)
    started = time.perf_counter()

    def copy(key: str) -> None:
        body, _ = s3_http.get_object(src, bucket_a, key)
        s3_http.put_object(dst, bucket_b, key, body, {})

    with ThreadPoolExecutor(threads) as pool:
        futures = [
            pool.submit(copy, key)
            for page in s3_http.list_pages(src, bucket_a, "")
            for key, _, _ in sorted(page, key=lambda item: -item[1])
        ]
        for future in futures:
            future.result()
    elapsed = time.perf_counter() - started
    empty_bucket(probe_client(b.endpoint, 8), bucket_b)
    return elapsed


def server_limit(a: S3Server, b: S3Server, bucket_a: str) -> tuple[float, dict[int, float]]:
    """The best of bare copy pipelines at several thread counts: the servers' ceiling for a copy."""
    runs = {threads: copy_pipeline(a, b, bucket_a, f"limit-probe-{threads}", threads) for threads in (8, 16, 32)}
    return min(runs.values()), runs


def measured(argv: list[str], env: dict[str, str], cwd: Path | None = None) -> tuple[float, float, str]:
    """Run ``argv``; its wall seconds, its own peak RSS in MiB, and its stdout.

    The RSS comes from GNU time (Debian's ``time``), a small process that waits for the tool: the
    bench's own wait4 would count the memory of the (large) bench process the tool was forked from.
    """
    with tempfile.NamedTemporaryFile() as rss_file:
        started = time.perf_counter()
        result = subprocess.run(
            ["/usr/bin/time", "-f", "%M", "-o", rss_file.name, *argv], env=env, cwd=cwd, capture_output=True, text=True
        )
        elapsed = time.perf_counter() - started
        if result.returncode != 0:
            raise SystemExit(f"{argv[0]} failed ({result.returncode}): {result.stderr[-2000:]}")
        kib = int(Path(rss_file.name).read_text().split()[-1])
    return elapsed, kib / 1024, result.stdout


PEAK_RSS: dict[str, float] = {}


def rclone(args: list[str], conf: Path, label: str = "rclone") -> float:
    env = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}
    seconds, rss, _ = measured(["rclone", "--config", str(conf), *args], env)
    PEAK_RSS[label] = max(PEAK_RSS.get(label, 0.0), rss)
    return seconds


def s5cmd_binary() -> str:
    found = shutil.which("s5cmd") or str(Path(sys.executable).parent / "s5cmd")
    if not os.access(found, os.X_OK):
        raise SystemExit("s5cmd not found: scripts/bootstrap installs it (dev dependency)")
    return found


def s5cmd(server: S3Server, args: list[str], workers: int) -> float:
    env = {
        **{k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"},
        "AWS_ACCESS_KEY_ID": KEYS[0],
        "AWS_SECRET_ACCESS_KEY": KEYS[1],
        "AWS_REGION": "us-east-1",
    }
    argv = [s5cmd_binary(), "--endpoint-url", server.endpoint, "--numworkers", str(workers), *args]
    seconds, rss, _ = measured(argv, env)
    PEAK_RSS["s5cmd"] = max(PEAK_RSS.get("s5cmd", 0.0), rss)
    return seconds


def s5cmd_copy(a: S3Server, b: S3Server, bucket_a: str, bucket_b: str, staging: Path, sync: bool) -> float:
    """s5cmd's A -> B: A to a local directory, then that directory to B (one endpoint per run)."""
    staging.mkdir(parents=True, exist_ok=True)
    verb = ["sync", "--size-only"] if sync else ["cp"]
    down = s5cmd(a, [*verb, f"s3://{bucket_a}/*", f"{staging}/"], 64)
    up = s5cmd(b, [*verb, f"{staging}/", f"s3://{bucket_b}/"], 64)
    return down + up


def migrate_sync(
    work: Path, a: S3Server, b: S3Server, bucket_a: str, bucket_b: str, workers: int, client: str = "lean"
) -> dict:
    files = []
    for name, server, bucket in (("a", a, bucket_a), ("b", b, bucket_b)):
        path = work / f"{name}.json"
        path.write_text(
            json.dumps(
                {
                    "target": name,
                    "s3_endpoint": server.endpoint,
                    "s3_access_key": KEYS[0],
                    "s3_secret_key": KEYS[1],
                    "s3_buckets": {"media": bucket},
                }
            )
        )
        files.append(path)
    env = {**os.environ, "PYTHONPATH": str(REPO), "MIGRATE_HOME": str(work / "home")}
    if client == "botocore":
        env["MIGRATE_S3_CLIENT"] = "botocore"
    elapsed, rss, stdout = measured(
        [
            sys.executable,
            "-m",
            "migrate",
            "data",
            "sync",
            "--no-postgres",
            "--from-outputs",
            str(files[0]),
            "--to-outputs",
            str(files[1]),
            "--workers",
            str(workers),
            "--json",
        ],
        env,
        cwd=work,
    )
    label = f"migrate ({client})"
    PEAK_RSS[label] = max(PEAK_RSS.get(label, 0.0), rss)
    doc = json.loads(stdout)
    media = doc["media"][0]
    return {
        "seconds": elapsed,
        "copied": media["copied"],
        "ok": doc["ok"],
        "copy_seconds": media["seconds"],
        "verify_seconds": doc["verify"]["seconds"],
    }


def tools_run(work: Path, a: S3Server, b: S3Server, source: str, workers: int, tag: str) -> dict[str, float]:
    """Every tool's first copy and unchanged re-sync of ``source``, each into a bucket of its own."""
    dst = s3_client(b.endpoint, *KEYS)
    conf = rclone_conf(work, a, b, KEYS)
    got: dict[str, float] = {}
    bucket = f"by-rclone-{tag}"
    dst.create_bucket(Bucket=bucket)
    got["rclone first"] = rclone(["sync", f"a:{source}", f"b:{bucket}", *RCLONE_FLAGS], conf)
    got["rclone resync default"] = rclone(["sync", f"a:{source}", f"b:{bucket}"], conf)
    fast_v1 = rclone(["sync", f"a:{source}", f"b:{bucket}", *RCLONE_FASTEST_RESYNC], conf)
    fast_v2 = rclone(["sync", f"a:{source}", f"b:{bucket}", *RCLONE_FASTEST_RESYNC, "--s3-list-version", "2"], conf)
    got["rclone resync fastest"] = min(fast_v1, fast_v2)
    empty_bucket(dst, bucket)

    bucket, staging = f"by-s5cmd-{tag}", work / f"s5cmd-{tag}"
    dst.create_bucket(Bucket=bucket)
    got["s5cmd first"] = s5cmd_copy(a, b, source, bucket, staging, sync=False)
    got["s5cmd resync"] = s5cmd_copy(a, b, source, bucket, staging, sync=True)
    shutil.rmtree(staging, ignore_errors=True)
    empty_bucket(dst, bucket)

    for client in ("lean", "botocore"):
        bucket = f"by-migrate-{client}-{tag}"
        dst.create_bucket(Bucket=bucket)
        first = migrate_sync(work, a, b, source, bucket, workers, client)
        again = migrate_sync(work, a, b, source, bucket, workers, client)
        assert first["ok"] and again["ok"] and again["copied"] == 0, (first, again)
        got[f"migrate {client} first"] = first["seconds"]
        got[f"migrate {client} first copy"] = first["copy_seconds"]
        got[f"migrate {client} first verify"] = first["verify_seconds"]
        got[f"migrate {client} resync"] = again["seconds"]
        got[f"migrate {client} resync copy"] = again["copy_seconds"]
        empty_bucket(dst, bucket)
    return got


def seed_many(a: S3Server, bucket: str, count: int, size: int, work: Path) -> float:
    """``count`` objects of ``size`` bytes into ``bucket``, uploaded by s5cmd from a local directory."""
    staging = work / "many-seed"
    (staging / "m").mkdir(parents=True, exist_ok=True)
    for index in range(count):
        (staging / "m" / f"{index:06d}.bin").write_bytes(os.urandom(size))
    s3_client(a.endpoint, *KEYS).create_bucket(Bucket=bucket)
    seconds = s5cmd(a, ["cp", f"{staging}/", f"s3://{bucket}/"], 64)
    shutil.rmtree(staging, ignore_errors=True)
    return seconds


def table(got: dict[str, float], limit: float, mib: float, objects: int) -> None:
    def row(name: str, seconds: float, rss: str = "", note: str = "") -> None:
        rate = f"{mib / seconds:7.1f} MiB/s {objects / seconds:8.0f} obj/s" if seconds else ""
        print(f"  {name:<44} {seconds:8.2f} s  {rate}  {rss:>9}  {note}")

    def rss(label: str) -> str:
        return f"{PEAK_RSS[label]:.0f} MiB" if label in PEAK_RSS else ""

    print(f"  {'':<44} {'wall':>10}  {'rate':>27}  {'peak RSS':>9}")
    row("server limit (bare GET+PUT pipeline)", limit)
    row("rclone sync, first copy (tuned)", got["rclone first"], rss("rclone"))
    row(
        "s5cmd, first copy (A -> disk -> B)", got["s5cmd first"], rss("s5cmd"), "two runs: no S3-to-S3 across endpoints"
    )
    for client in ("lean", "botocore"):
        row(
            f"migrate data sync, first copy ({client})",
            got[f"migrate {client} first"],
            rss(f"migrate ({client})"),
            f"copy {got[f'migrate {client} first copy']:.2f} s, verify {got[f'migrate {client} first verify']:.2f} s",
        )
    row("rclone re-sync, default", got["rclone resync default"])
    row("rclone re-sync, --size-only --fast-list", got["rclone resync fastest"])
    row("s5cmd re-sync (sync --size-only, both legs)", got["s5cmd resync"])
    for client in ("lean", "botocore"):
        row(
            f"migrate re-sync, unchanged (+verify) ({client})",
            got[f"migrate {client} resync"],
            "",
            f"listings + compare {got[f'migrate {client} resync copy']:.2f} s",
        )
    lean = got["migrate lean first"]
    print(f"  ratio first copy: rclone / migrate = {got['rclone first'] / lean:.2f}x (goal >= 1.5)")
    print(f"  ratio first copy: s5cmd / migrate = {got['s5cmd first'] / lean:.2f}x (goal >= 1.0)")
    print(f"  ratio first copy: migrate / server limit = {lean / limit:.2f} (goal <= 1.10)")
    print(f"  ratio first copy: rclone / server limit = {got['rclone first'] / limit:.2f}")
    print(
        f"  ratio re-sync: rclone fastest / migrate = {got['rclone resync fastest'] / got['migrate lean resync']:.2f}x"
        " (goal >= 1.0)"
    )
    print(
        f"  migrate lean vs botocore: first copy {got['migrate botocore first'] / lean:.2f}x,"
        f" re-sync {got['migrate botocore resync'] / got['migrate lean resync']:.2f}x (botocore time / lean time)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=2000)
    parser.add_argument("--large", type=int, default=20)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--many", type=int, default=0, help="then N objects of 2 KB (e.g. 100000)")
    parser.add_argument("--quick", action="store_true", help="500 x 50 KB + 5 x 20 MiB")
    args = parser.parse_args()
    if args.quick:
        args.small, args.large = 500, 5
    work = Path(tempfile.mkdtemp(prefix="bench-media-", dir="/var/tmp"))
    with s3_pair(work, KEYS) as (a, b):
        src = s3_client(a.endpoint, *KEYS)
        objects = {f"small/{i:05d}.jpg": os.urandom(50_000) for i in range(args.small)}
        objects |= {f"large/{i:03d}.mp4": os.urandom(20 * 1024 * 1024) for i in range(args.large)}
        total, count = sum(len(v) for v in objects.values()), len(objects)
        src.create_bucket(Bucket="source-media")
        seed_s = timed(lambda: seed(src, "source-media", objects, args.workers))
        objects.clear()  # free the memory before the copies
        load_start = " / ".join(f"{x:.1f}" for x in os.getloadavg())
        limit_s, probes = server_limit(a, b, "source-media")
        got = tools_run(work, a, b, "source-media", args.workers, "mixed")
        # Once more at the best thread count, after the tools: on a shared machine the load drifts
        # during a run, and the limit is the best either end saw.
        best_threads = min(probes, key=lambda t: probes[t])
        probe_after = copy_pipeline(a, b, "source-media", "limit-probe-after", best_threads)
        limit_s = min(limit_s, probe_after)
        # rclone and s5cmd are bare pipelines too: when one beats the probes, it is the better
        # measure of what the servers can take.
        limit_by = min((limit_s, "probe"), (got["rclone first"], "rclone"), (got["s5cmd first"], "s5cmd"))[1]
        limit_s = min(limit_s, got["rclone first"], got["s5cmd first"])
        mib = total / 1024 / 1024
        load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
        print(
            f"servers: versitygw {VERSITYGW_VERSION} (posix backend, on disk) x 2 on loopback; "
            f"{os.cpu_count()} CPUs; load average at the start {load_start}, at the end {load}"
        )
        print(f"data set: {args.small} x 50 KB + {args.large} x 20 MiB = {mib:.0f} MiB, {args.workers} workers")
        print(f"  server ingest (seeding A, boto3 PUT only)  {seed_s:7.2f} s")
        print(
            "  server limit probes: "
            + ", ".join(f"{t} threads {s:.2f} s" for t, s in probes.items())
            + f"; after the tools, {best_threads} threads {probe_after:.2f} s; limit by {limit_by}"
        )
        table(got, limit_s, mib, count)

        if args.many:
            PEAK_RSS.clear()
            seed_many_s = seed_many(a, "many-small", args.many, 2048, work)
            load_start = " / ".join(f"{x:.1f}" for x in os.getloadavg())
            limit_many = copy_pipeline(a, b, "many-small", "limit-probe-many", best_threads)
            many = tools_run(work, a, b, "many-small", args.workers, "many")
            limit_many = min(limit_many, many["rclone first"], many["s5cmd first"])
            load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
            print(
                f"large run: {args.many} x 2 KB (seeded by s5cmd in {seed_many_s:.1f} s); "
                f"load average at the start {load_start}, at the end {load}"
            )
            table(many, limit_many, args.many * 2048 / 1024 / 1024, args.many)


if __name__ == "__main__":
    main()
