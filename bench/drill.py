"""Benchmark: the local drill's RTO against the physical floor, measured in the same run.

    python bench/drill.py [--db-mb 1024] [--media-mb 2048] [--rate 200] [--spec examples/chirp/migrate.yaml]

1. Runs ``migrate drill --from local-a --to local-b`` with the ballast seeded and the write load
   on (replication mode), and reads RTO/RPO from its report.
2. Measures the floor on the same machine with the same data volume: raw ``pg_dump -Fd -j``
   plus ``pg_restore -j`` of a database of the same size between two fresh Postgres clusters,
   plus ``rclone copy`` of the same media volume between two S3 servers, plus one DNS TTL.
3. Prints RTO / floor (goal <= 1.3) and RPO seconds (goal <= 1 s at 200 writes/s).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PG = Path("/usr/lib/postgresql/15/bin")


def run_drill(args: argparse.Namespace) -> dict:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "migrate",
            "-f",
            args.spec,
            "drill",
            "--from",
            "local-a",
            "--to",
            "local-b",
            "--seed-mb",
            str(args.db_mb),
            "--media-mb",
            str(args.media_mb),
            "--rate",
            str(args.rate),
            "--load-seconds",
            str(args.load_seconds),
            "--json",
            "--reports",
            str(ROOT / "bench" / "results"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if done.returncode != 0:
        sys.exit(f"drill failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout)


def floor_seconds(db_mb: int, media_mb: int, ttl: int) -> dict[str, float]:
    """Dump/restore and copy the same volumes with the raw tools, no orchestration at all."""
    import secrets as token

    from providers.local.servers.postgres import PostgresServer, traversable_dir
    from providers.local.servers.process import free_port
    from providers.local.servers.s3 import S3Server

    work = Path(tempfile.mkdtemp(prefix="migrate-bench-", dir="/var/tmp"))
    work.chmod(0o755)  # mkdtemp makes it 0700; Postgres runs as its own user
    traversable_dir(work)
    password = token.token_hex(12)
    servers = [PostgresServer(work / f"pg-{n}", "127.0.0.1", free_port(), password) for n in "ab"]
    stores = [S3Server("127.0.0.1", free_port(), work / f"s3-{n}", "bench", "bench") for n in "ab"]
    try:
        for server in servers:
            server.init()
            server.start()
        for store in stores:
            store.start()
        src, dst = (server.url(password=password) for server in servers)
        subprocess.run(
            [
                str(PG / "psql"),
                src,
                "-qc",
                "CREATE TABLE b (id bigint PRIMARY KEY, body text); "
                f"INSERT INTO b SELECT g, repeat(md5(g::text), 32) FROM generate_series(1, {db_mb * 1024}) g",
            ],
            check=True,
        )
        started = time.monotonic()
        subprocess.run([str(PG / "pg_dump"), "-Fd", "-j", "2", "-f", str(work / "dump"), src], check=True)
        subprocess.run([str(PG / "pg_restore"), "-j", "2", "-d", dst, str(work / "dump")], check=True)
        db = time.monotonic() - started
        media = _rclone_floor(stores[0].endpoint, stores[1].endpoint, media_mb, work)
    finally:
        for server in servers:
            server.stop()
        for store in stores:
            store.stop()
    return {"pg_dump_restore": db, "rclone_copy": media, "ttl": float(ttl), "total": db + media + ttl}


def _rclone_floor(source: str, dest: str, media_mb: int, work: Path) -> float:
    import boto3

    for endpoint in (source, dest):
        boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
        ).create_bucket(Bucket="media")
    client = boto3.client(
        "s3", endpoint_url=source, region_name="us-east-1", aws_access_key_id="bench", aws_secret_access_key="bench"
    )
    for i in range(max(1, media_mb // 4)):
        client.put_object(Bucket="media", Key=f"ballast-{i:05d}.bin", Body=os.urandom(4 * 1024 * 1024))
    config = work / "rclone.conf"
    config.write_text(
        "".join(
            f"[{name}]\ntype = s3\nprovider = Other\nendpoint = {endpoint}\nforce_path_style = true\n"
            "access_key_id = bench\nsecret_access_key = bench\n\n"
            for name, endpoint in (("a", source), ("b", dest))
        )
    )
    env = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}
    started = time.monotonic()
    subprocess.run(
        ["rclone", "--config", str(config), "copy", "--transfers", "16", "a:media", "b:media"], check=True, env=env
    )
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spec", default="examples/chirp/migrate.yaml")
    parser.add_argument("--db-mb", type=int, default=1024)
    parser.add_argument("--media-mb", type=int, default=2048)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--load-seconds", type=float, default=30)
    args = parser.parse_args()
    report = run_drill(args)
    figures = report["figures"]
    floor = floor_seconds(args.db_mb, args.media_mb, int(figures["dns_ttl_seconds"]))
    ratio = figures["rto_with_ttl_seconds"] / floor["total"]
    print(json.dumps({"drill": figures, "floor": floor, "rto_over_floor": round(ratio, 3)}, indent=2))
    print(
        f"RTO {figures['rto_with_ttl_seconds']:.1f}s (incl. one TTL) vs floor {floor['total']:.1f}s: "
        f"{ratio:.2f}x (goal <= 1.3x); RPO {figures['rpo_seconds']:.2f}s, {figures['rpo_writes']} writes "
        f"(goal <= 1 s at {args.rate:g}/s; the load carried {figures.get('load_rate_achieved')}/s)"
    )
    if figures.get("media_writes"):
        print(
            f"media: {figures['media_writes_lost']} of {figures['media_writes']} acknowledged uploads lost "
            f"({figures['media_rpo_seconds']:.2f}s of uploads; the follower's slowest pass "
            f"{figures.get('media_follower_slowest_pass_seconds')}s; event notifications "
            f"{figures.get('media_follower_events')}, median event-to-copy "
            f"{figures.get('media_follower_median_announced_copy_seconds')}s)"
        )
    print(f"{'RPO by kind':16} {'acked':>7} {'lost':>6} {'span s':>7}")
    for kind, counted in (figures.get("rpo") or {}).items():
        print(f"{kind:16} {counted['acked']:>7} {counted['lost']:>6} {counted['seconds']:>7.2f}")


if __name__ == "__main__":
    main()
