"""Media follower pass cost: source-only passes vs listing both buckets, between two real S3 servers (versitygw).

    python bench/follow_pass.py [--objects 3000] [--passes 10] [--quick]

Seeds A with ``--objects`` small objects, copies them to B, then runs the follower pass after
pass with one new upload at A before each pass, three ways: every pass listing both buckets
(``--full-every 1``, the follower as it was), ordinary passes listing only A (the default), and
``rclone copy --size-only --fast-list`` (rclone's cheapest incremental pass, a new process each
time). Prints the median pass and the S3 servers' CPU per pass (listing is what a pass costs:
moto serialises every listed object), and the ratios. ``--quick``: 1000 objects, 6 passes.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from s3_pair import rclone_conf, s3_pair  # noqa: E402

from providers.local.servers.s3 import S3Server, s3_client  # noqa: E402

KEYS = ("bench-access", "bench-secret-key")
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU a process has used so far (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def outputs(name: str, server: S3Server, bucket: str) -> Any:
    from migrate.outputs import TargetOutputs

    return TargetOutputs.model_validate(
        {
            "target": name,
            "provider": "bench",
            "public_addresses": [],
            "health_url": "",
            "s3_endpoint": server.endpoint,
            "s3_access_key": KEYS[0],
            "s3_secret_key": KEYS[1],
            "s3_buckets": {"media": bucket},
        }
    )


class Uploads:
    """One new object at A per call, as an app's uploads arrive between passes."""

    def __init__(self, server: S3Server, bucket: str, tag: str) -> None:
        self.client, self.bucket, self.tag, self.count = s3_client(server.endpoint, *KEYS), bucket, tag, 0

    def __call__(self) -> None:
        self.client.put_object(Bucket=self.bucket, Key=f"new/{self.tag}-{self.count:04d}.jpg", Body=os.urandom(30_000))
        self.count += 1


def follower_passes(
    a: S3Server, b: S3Server, bucket_a: str, bucket_b: str, passes: int, full_every: int, upload: Uploads
) -> dict[str, float]:
    """Median pass and servers' CPU per pass over ``passes`` passes after a first (full) one."""
    from migrate.data.follow import FollowState, follow_media

    cpu: dict[str, float] = {}

    def on_pass(state: FollowState) -> None:
        if state.last_error:
            raise SystemExit(f"follower pass failed: {state.last_error}")
        if state.passes == 1:
            cpu.update(a=cpu_seconds(a.pid), b=cpu_seconds(b.pid))
        upload()

    state = follow_media(
        None,
        outputs("a", a, bucket_a),
        outputs("b", b, bucket_b),
        interval=0.0,
        stop=threading.Event(),
        max_passes=passes + 1,
        full_every=full_every,
        full_seconds=3600.0,
        on_pass=on_pass,
    )
    expected = upload.count - 1  # the last upload came after the last pass
    held = _count(b, bucket_b, f"new/{upload.tag}")
    if held != expected:
        raise SystemExit(f"follower left {expected - held} uploads behind")
    return {
        "median": statistics.median(state.history[1:]),
        "max": max(state.history[1:]),
        "cpu_a": (cpu_seconds(a.pid) - cpu["a"]) / passes,
        "cpu_b": (cpu_seconds(b.pid) - cpu["b"]) / passes,
    }


def _count(server: S3Server, bucket: str, prefix: str) -> int:
    pages = s3_client(server.endpoint, *KEYS).get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sum(page.get("KeyCount", 0) for page in pages)


def rclone_passes(
    work: Path, a: S3Server, b: S3Server, bucket_a: str, bucket_b: str, passes: int, upload: Uploads
) -> dict[str, float]:
    conf = rclone_conf(work, a, b, KEYS)
    env = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}
    args = [
        "rclone",
        "--config",
        str(conf),
        "copy",
        f"a:{bucket_a}",
        f"b:{bucket_b}",
        "--size-only",
        "--fast-list",
        "--checkers",
        "32",
        "--s3-no-check-bucket",
    ]
    seconds: list[float] = []
    before = {"a": cpu_seconds(a.pid), "b": cpu_seconds(b.pid)}
    for _ in range(passes):
        upload()
        started = time.perf_counter()
        subprocess.run(args, check=True, env=env, capture_output=True)
        seconds.append(time.perf_counter() - started)
    return {
        "median": statistics.median(seconds),
        "max": max(seconds),
        "cpu_a": (cpu_seconds(a.pid) - before["a"]) / passes,
        "cpu_b": (cpu_seconds(b.pid) - before["b"]) / passes,
    }


def seed(server: S3Server, bucket: str, count: int) -> None:
    client = s3_client(server.endpoint, *KEYS)
    client.create_bucket(Bucket=bucket)

    def put(index: int) -> None:
        client.put_object(Bucket=bucket, Key=f"img/{index:06d}.jpg", Body=os.urandom(2_000))

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(put, range(count)))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--objects", type=int, default=3000)
    parser.add_argument("--passes", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="1000 objects, 6 passes")
    args = parser.parse_args()
    if args.quick:
        args.objects, args.passes = 1000, 6
    work = Path(tempfile.mkdtemp(prefix="bench-follow-"))
    os.environ["MIGRATE_HOME"] = str(work / "home")
    with s3_pair(work, KEYS) as (a, b):
        seed(a, "media", args.objects)
        both = follower_passes(a, b, "media", "media", args.passes, 1, Uploads(a, "media", "both"))
        source_only = follower_passes(a, b, "media", "media", args.passes, 10_000, Uploads(a, "media", "src"))
        has_rclone = shutil.which("rclone") is not None
        if has_rclone:
            peer = rclone_passes(work, a, b, "media", "media", max(3, args.passes // 2), Uploads(a, "media", "rc"))
        load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
        print(
            f"{args.objects} objects at A and B (+1 upload per pass), {args.passes} passes each, "
            f"{os.cpu_count()} CPUs, load average at the end {load}"
        )
        rows = [("follower, every pass lists both", both), ("follower, ordinary pass lists A only", source_only)]
        if has_rclone:
            rows.append(("rclone copy --size-only --fast-list", peer))
        for name, row in rows:
            print(
                f"{name:40s} pass median {row['median']:6.3f} s  max {row['max']:6.3f} s  "
                f"server CPU per pass: A {row['cpu_a']:.3f} s, B {row['cpu_b']:.3f} s"
            )
        print(f"ratio pass median: both / A only = {both['median'] / source_only['median']:.2f}x")
        source_cpu = source_only["cpu_a"] + source_only["cpu_b"]
        if source_cpu > 0:
            print(f"ratio servers' CPU per pass: both / A only = {(both['cpu_a'] + both['cpu_b']) / source_cpu:.2f}x")
        else:  # a listing small enough that the servers' CPU did not register
            print("ratio servers' CPU per pass: not measurable (the servers used no CPU the clock could see)")
        if has_rclone:
            print(f"ratio pass median: rclone / A only = {peer['median'] / source_only['median']:.2f}x")


if __name__ == "__main__":
    main()
