"""Postgres move benchmark: migrate vs plain pg_dump -Fd -j N + pg_restore -j N, two local clusters.

    python bench/postgres_move.py [--scale 70] [--jobs 2]

pgbench -i -s 70 makes about 1 GB. Prints the baseline, migrate's move without verification
(the goal: within 1.1 times the baseline), and migrate's verification time on its own.
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
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from providers.local.servers.postgres import PostgresServer, pg_tool  # noqa: E402
from providers.local.servers.process import free_port  # noqa: E402

USER, PASSWORD = "chirp", "bench-app-pw"


def run(argv: list[str], env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True, env={**os.environ, **(env or {})})
    return time.perf_counter() - started


def outputs(work: Path, name: str, server: PostgresServer, database: str) -> Path:
    path = work / f"{name}.json"
    path.write_text(json.dumps({"target": name, "database_url": server.url(USER, PASSWORD, database)}))
    return path


def migrate(work: Path, *args: str) -> tuple[float, dict]:
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "migrate", "data", *args, "--json"], cwd=work,
                            env={**os.environ, "PYTHONPATH": str(REPO), "MIGRATE_HOME": str(work / "home")},
                            capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"migrate {args[0]} failed: {result.stderr}")
    return elapsed, json.loads(result.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=70)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-pg-", dir="/tmp"))
    work.chmod(0o755)
    a = PostgresServer(work / "a", "127.0.0.1", free_port(), "bench-super-a")
    b = PostgresServer(work / "b", "127.0.0.1", free_port(), "bench-super-b")
    try:
        for server in (a, b):
            server.init()
            server.start()
        a.ensure_database(USER, PASSWORD, "chirp")
        b.ensure_database(USER, PASSWORD, "baseline")
        b.ensure_database(USER, PASSWORD, "chirp")
        env = {"PGPASSWORD": PASSWORD}
        init = run([pg_tool("pgbench"), "-i", "-q", "-s", str(args.scale), "-h", a.host, "-p", str(a.port),
                    "-U", USER, "chirp"], env)
        dump_dir = work / "baseline.dump"
        dump_s = run([pg_tool("pg_dump"), "-Fd", "-j", str(args.jobs), "-f", str(dump_dir), "-h", a.host, "-p",
                      str(a.port), "-U", USER, "chirp"], env)
        restore_s = run([pg_tool("pg_restore"), "-j", str(args.jobs), "-h", b.host, "-p", str(b.port), "-U", USER,
                         "-d", "baseline", str(dump_dir)], env)
        shutil.rmtree(dump_dir)
        baseline = dump_s + restore_s
        src, dst = outputs(work, "a", a, "chirp"), outputs(work, "b", b, "chirp")
        move_s, doc = migrate(work, "sync", "--from-outputs", str(src), "--to-outputs", str(dst), "--no-media",
                              "--no-verify", "--jobs", str(args.jobs))
        verify_s, report = migrate(work, "verify", "--from-outputs", str(src), "--to-outputs", str(dst), "--no-media")
        assert report["ok"], report
        size = subprocess.run([pg_tool("psql"), "-Atc", "SELECT pg_size_pretty(pg_database_size('chirp'))", "-h",
                               a.host, "-p", str(a.port), "-U", USER, "chirp"], env={**os.environ, **env},
                              capture_output=True, text=True).stdout.strip()
        print(f"database: pgbench scale {args.scale} ({size}, init {init:.1f} s), jobs {args.jobs}")
        print(f"baseline pg_dump -Fd -j {args.jobs}        {dump_s:7.2f} s")
        print(f"baseline pg_restore -j {args.jobs}         {restore_s:7.2f} s")
        print(f"baseline total                  {baseline:7.2f} s")
        pg = doc["postgres"]
        print(f"migrate data sync --no-verify   {move_s:7.2f} s  (dump {pg['dump_seconds']:.2f} s, "
              f"restore {pg['restore_seconds']:.2f} s)")
        print(f"migrate data verify             {verify_s:7.2f} s  ({report['sections'][0]['units']:,} rows)")
        print(f"ratio migrate / baseline = {move_s / baseline:.2f} (goal <= 1.10)")
    finally:
        a.stop()
        b.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
