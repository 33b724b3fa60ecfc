"""Benchmark: the local drill's RTO on both routes, each beside its floor measured in the same run.

    python bench/drill.py [--db-mb 1024] [--media-mb 2048] [--rate 200] [--routes warm,cold]

- **warm** (``--data replica``): B is a warm standby, deployed from the same spec and program,
  replicating; after the kill the failover proves B current (its stack fingerprint and health)
  and promotes, swings and verifies without waiting for the Pulumi engine, which converges B
  afterwards. Floor: promote + swing + verify, as the same run did them on the same stacks (the
  durations of its data, dns-swing and dns-verify steps). Goal: RTO excluding the TTL <= 3 s.
- **cold** (``--data restore``): B does not exist; after the kill it is provisioned from
  nothing and A's backup is restored onto it. Floor: ``pg_restore -j`` of a dump of the same
  size between two fresh Postgres clusters + ``rclone copy`` of the same media between two S3
  servers + the provisioning from nothing (the run's own provision step: the same engine and
  program, creating every resource). Goal: RTO <= 1.3 x the floor.

Both are printed excluding and including one DNS TTL (the floor including it too), with the
write load the drill really carried and the load average of the machine while it ran.
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
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PG = Path("/usr/lib/postgresql/15/bin")
WARM_FLOOR_STEPS = ("data", "dns-swing", "dns-verify")  # promote + swing + verify


def run_drill(args: argparse.Namespace, mode: str) -> dict[str, Any]:
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
            "--data",
            mode,
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
        sys.exit(f"{mode} drill failed: {done.stderr[-2000:]}")
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def step_seconds(report: dict[str, Any]) -> dict[str, float]:
    return {s["id"]: float(s["seconds"] or 0.0) for s in report["steps"] if s["status"] == "ok"}


def floor_seconds(db_mb: int, media_mb: int) -> dict[str, float]:
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
        dumped = time.monotonic()
        subprocess.run([str(PG / "pg_restore"), "-j", "2", "-d", dst, str(work / "dump")], check=True)
        restored = time.monotonic()
        media = _rclone_floor(stores[0].endpoint, stores[1].endpoint, media_mb, work)
    finally:
        for server in servers:
            server.stop()
        for store in stores:
            store.stop()
    return {"pg_dump": dumped - started, "pg_restore": restored - dumped, "rclone_copy": media}


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


def route_result(report: dict[str, Any], steps: dict[str, float], floor: float, **judged: Any) -> dict[str, Any]:
    """One route's figures against its ``floor`` (seconds): the RTOs and floors first, then what
    the route is judged by (``judged``, in order), then the steps, figures and report behind them."""
    figures = report["figures"]
    ttl = float(figures["dns_ttl_seconds"])
    return {
        "route": figures.get("takeover_route"),
        "rto_seconds": figures["rto_seconds"],
        "rto_with_ttl_seconds": figures["rto_with_ttl_seconds"],
        "floor_seconds": round(floor, 3),
        "floor_with_ttl_seconds": round(floor + ttl, 3),
        **judged,
        "steps": steps,
        "figures": figures,
        "report": report["files"].get("html"),
    }


def warm_route(args: argparse.Namespace) -> dict[str, Any]:
    report = run_drill(args, "replica")
    figures, steps = report["figures"], step_seconds(report)
    floor = sum(steps.get(step, 0.0) for step in WARM_FLOOR_STEPS)
    return route_result(
        report,
        steps,
        floor,
        floor_parts={step: steps.get(step) for step in WARM_FLOOR_STEPS},
        rto_over_floor=round(figures["rto_seconds"] / floor, 2) if floor else None,
        goal="RTO excluding TTL <= 3 s",
        met=figures["rto_seconds"] <= 3.0,
    )


def cold_route(args: argparse.Namespace) -> dict[str, Any]:
    report = run_drill(args, "restore")
    figures, steps = report["figures"], step_seconds(report)
    raw = floor_seconds(args.db_mb, args.media_mb)
    floor = raw["pg_restore"] + raw["rclone_copy"] + steps.get("provision", 0.0)
    ttl = float(figures["dns_ttl_seconds"])
    ratio = figures["rto_seconds"] / floor if floor else None
    return route_result(
        report,
        steps,
        floor,
        floor_parts={**{k: round(v, 3) for k, v in raw.items()}, "provision_from_nothing": steps.get("provision")},
        rto_over_floor=round(ratio, 2) if ratio else None,
        rto_with_ttl_over_floor_with_ttl=round(figures["rto_with_ttl_seconds"] / (floor + ttl), 2),
        goal="RTO <= 1.3 x floor",
        met=ratio is not None and ratio <= 1.3,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spec", default="examples/chirp/migrate.yaml")
    parser.add_argument("--db-mb", type=int, default=1024)
    parser.add_argument("--media-mb", type=int, default=2048)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--load-seconds", type=float, default=30)
    parser.add_argument("--routes", default="warm,cold", help="comma-separated: warm, cold")
    args = parser.parse_args()
    load_before = os.getloadavg()
    results: dict[str, Any] = {}
    for route in [r.strip() for r in args.routes.split(",") if r.strip()]:
        results[route] = {"warm": warm_route, "cold": cold_route}[route](args)
    load_after = os.getloadavg()
    results["load_average"] = {"before": [round(x, 2) for x in load_before], "after": [round(x, 2) for x in load_after]}
    print(json.dumps(results, indent=2))
    print(
        f"load average (1/5/15 min): before {load_before[0]:.1f}/{load_before[1]:.1f}/{load_before[2]:.1f}, "
        f"after {load_after[0]:.1f}/{load_after[1]:.1f}/{load_after[2]:.1f} (2 cores)"
    )
    for route in ("warm", "cold"):
        if route not in results:
            continue
        r, f = results[route], results[route]["figures"]
        print(
            f"{route} (route taken: {r['route']}): RTO {r['rto_seconds']:.2f}s excluding TTL, "
            f"{r['rto_with_ttl_seconds']:.2f}s including one TTL; floor {r['floor_seconds']:.2f}s / "
            f"{r['floor_with_ttl_seconds']:.2f}s ({r['rto_over_floor']}x); goal {r['goal']}: "
            f"{'met' if r['met'] else 'NOT met'}; RPO {f['rpo_writes']} writes, {f['rpo_seconds']:.2f}s; "
            f"load asked {f['load_rate_asked']:g}/s, carried {f.get('load_rate_achieved')}/s"
        )
        rpo = f.get("rpo") or {}
        if rpo:
            print(f"  {'RPO by kind':16} {'acked':>7} {'lost':>6} {'span s':>7}")
            for kind, counted in rpo.items():
                print(f"  {kind:16} {counted['acked']:>7} {counted['lost']:>6} {counted['seconds']:>7.2f}")


if __name__ == "__main__":
    main()
