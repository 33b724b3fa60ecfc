"""Postgres move benchmark: migrate vs plain pg_dump -Fd -j N + pg_restore -j N, two local clusters.

    python bench/postgres_move.py [--scale 70] [--jobs 2] [--reps 1]

pgbench -i -s 70 makes about 1 GB. Prints the baseline, migrate's move without verification
(the goal: within 1.1 times the baseline), migrate's verification time on its own, the move
with its verification (as users run it), and the CPU seconds each contender used (the tools
and both clusters: steadier than wall time when other work shares the cores).

Like with like: both restore into a fresh database on the same destination cluster (same
server settings), both dump from the same source, and before every timed run both clusters
take a CHECKPOINT so neither pays for writing out the other's restore. An untimed baseline run
goes first, so every timed restore recycles WAL segments instead of the first one creating
them (and the source's tables are in the page cache for all). With ``--reps`` > 1
the order alternates (baseline first, then migrate first, ...) and medians are compared.
Migrate's figure is the wall-clock time of the whole CLI (Python start-up, roles, the dump to
a local directory, the restore, cleaning up); the baseline's is the two tools' run times.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

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


def migrate(work: Path, *args: str) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "migrate", "data", *args, "--json"],
        cwd=work,
        env={**os.environ, "PYTHONPATH": str(REPO), "MIGRATE_HOME": str(work / "home")},
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"migrate {args[0]} failed: {result.stderr}")
    doc: dict[str, Any] = json.loads(result.stdout)
    return elapsed, doc


def as_app(server: PostgresServer) -> list[str]:
    """The Postgres tools' options to connect to ``server`` as the app user."""
    return ["-h", server.host, "-p", str(server.port), "-U", USER]


def superuser_sql(server: PostgresServer, *statements: str) -> None:
    import psycopg

    with psycopg.connect(server.url(), autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def fresh(server: PostgresServer, database: str) -> None:
    """An empty destination database owned by the app user, and a clean slate on disk."""
    superuser_sql(server, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    server.ensure_database(USER, PASSWORD, database)


def checkpoint(*servers: PostgresServer) -> None:
    for server in servers:
        superuser_sql(server, "CHECKPOINT")


def _ticks(pid: int) -> int:
    """utime + stime (+ reaped children's) of one process, in clock ticks; 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return sum(int(x) for x in fields[11:15])


def server_cpu(server: PostgresServer) -> float:
    """CPU seconds a cluster has used: the postmaster, every backend it reaped (a finished
    connection's CPU lands in its cutime) and the live background processes."""
    pid = server.pid()
    if not pid:
        return 0.0
    ticks = _ticks(pid)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        if int(text.rsplit(")", 1)[1].split()[1]) == pid:
            ticks += _ticks(int(stat.parent.name))
    return ticks / os.sysconf("SC_CLK_TCK")


def cpu(*servers: PostgresServer) -> float:
    """CPU seconds used so far by this bench's children (the tools, migrate) and the clusters."""
    times = os.times()
    return times.children_user + times.children_system + sum(server_cpu(s) for s in servers)


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--scale", type=int, default=70)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--reps", type=int, default=1, help="runs of each, in alternating order; medians")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-pg-", dir="/tmp"))
    work.chmod(0o755)
    a = PostgresServer(work / "a", "127.0.0.1", free_port(), "bench-super-a")
    b = PostgresServer(work / "b", "127.0.0.1", free_port(), "bench-super-b")
    env = {"PGPASSWORD": PASSWORD}
    started: list[PostgresServer] = []
    try:
        for server in (a, b):
            server.init()
            server.start()
            started.append(server)
        a.ensure_database(USER, PASSWORD, "chirp")
        init = run(
            [pg_tool("pgbench"), "-i", "-q", "-s", str(args.scale), *as_app(a), "chirp"],
            env,
        )
        src, dst = outputs(work, "a", a, "chirp"), outputs(work, "b", b, "chirp")
        loads = [load()]

        def baseline() -> tuple[float, float]:
            fresh(b, "baseline")
            dump_dir = work / "baseline.dump"
            shutil.rmtree(dump_dir, ignore_errors=True)
            checkpoint(a, b)
            cpu_before = cpu(a, b)
            dump_s = run(
                [pg_tool("pg_dump"), "-Fd", "-j", str(args.jobs), "-f", str(dump_dir), *as_app(a), "chirp"],
                env,
            )
            restore_s = run(
                [pg_tool("pg_restore"), "-j", str(args.jobs), *as_app(b), "-d", "baseline", str(dump_dir)],
                env,
            )
            checkpoint(a, b)  # the writing-out of what the restore left dirty is part of its cost
            base_cpu.append(cpu(a, b) - cpu_before)
            shutil.rmtree(dump_dir)
            return dump_s, restore_s

        def ours(*, verify: bool = False) -> tuple[float, dict[str, Any]]:
            fresh(b, "chirp")
            checkpoint(a, b)
            cpu_before = cpu(a, b)
            done = migrate(
                work,
                "sync",
                "--from-outputs",
                str(src),
                "--to-outputs",
                str(dst),
                "--no-media",
                *([] if verify else ["--no-verify"]),
                "--jobs",
                str(args.jobs),
            )
            checkpoint(a, b)
            our_cpu.append(cpu(a, b) - cpu_before)
            return done

        # Untimed: the first restore into a new cluster creates (zero-fills) its WAL segments, the
        # later ones recycle them; without this whoever runs first pays ~1 GB of extra writes.
        base_cpu: list[float] = []
        our_cpu: list[float] = []
        warmup = baseline()
        base_cpu.clear()
        base_runs: list[tuple[float, float]] = []
        our_runs: list[tuple[float, dict[str, Any]]] = []
        for rep in range(args.reps):
            if rep % 2 == 0:
                base_runs.append(baseline())
                our_runs.append(ours())
            else:
                our_runs.append(ours())
                base_runs.append(baseline())
        # As users run it: the move with its verification (the source's half overlaps the restore).
        synced_s, synced = ours(verify=True)
        our_cpu.pop()
        assert synced["verify"]["ok"], synced["verify"]
        checkpoint(a, b)
        verify_s, report = migrate(work, "verify", "--from-outputs", str(src), "--to-outputs", str(dst), "--no-media")
        assert report["ok"], report
        loads.append(load())
        size = subprocess.run(
            [pg_tool("psql"), "-Atc", "SELECT pg_size_pretty(pg_database_size('chirp'))", *as_app(a), "chirp"],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
        ).stdout.strip()
        dump_s = statistics.median(d for d, _ in base_runs)
        restore_s = statistics.median(r for _, r in base_runs)
        base = statistics.median(d + r for d, r in base_runs)
        move_s = statistics.median(m for m, _ in our_runs)
        pg_dump_s = statistics.median(doc["postgres"]["dump_seconds"] for _, doc in our_runs)
        pg_restore_s = statistics.median(doc["postgres"]["restore_seconds"] for _, doc in our_runs)
        reps = f", median of {args.reps}" if args.reps > 1 else ""
        print(
            f"database: pgbench scale {args.scale} ({size}, init {init:.1f} s), jobs {args.jobs}{reps}; "
            f"load average (1/5/15 min) {loads[0]} before, {loads[1]} after"
        )
        print(f"(untimed warm-up: baseline {sum(warmup):.2f} s)")
        print(f"baseline pg_dump -Fd -j {args.jobs}        {dump_s:7.2f} s")
        print(f"baseline pg_restore -j {args.jobs}         {restore_s:7.2f} s")
        print(f"baseline total                  {base:7.2f} s")
        print(
            f"migrate data sync --no-verify   {move_s:7.2f} s  (dump {pg_dump_s:.2f} s, restore {pg_restore_s:.2f} s,"
            f" the rest {move_s - pg_dump_s - pg_restore_s:.2f} s: start-up, clean-up)"
        )
        print(f"migrate data verify             {verify_s:7.2f} s  ({report['sections'][0]['units']:,} rows)")
        print(
            f"migrate data sync (verifying)   {synced_s:7.2f} s  (verify after the restore"
            f" {synced['postgres']['verify_seconds']:.2f} s: {synced_s / move_s:.2f} x the move without it)"
        )
        if args.reps > 1:
            print(
                "runs (baseline, migrate): "
                + ", ".join(f"{d + r:.2f}/{m:.2f}" for (d, r), (m, _) in zip(base_runs, our_runs, strict=True))
            )
        print(f"ratio migrate / baseline = {move_s / base:.2f} (goal <= 1.10)")
        base_cpu_s, our_cpu_s = statistics.median(base_cpu), statistics.median(our_cpu)
        print(
            f"CPU seconds, tools + both clusters (steadier than wall time on a loaded machine): baseline"
            f" {base_cpu_s:.2f} s, migrate {our_cpu_s:.2f} s, ratio {our_cpu_s / base_cpu_s:.2f}"
        )
    finally:
        for server in started:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
