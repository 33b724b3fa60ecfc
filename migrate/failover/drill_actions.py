"""Drill-only actions: sandbox DNS, seed data, write load, chaos termination, RTO/RPO, teardown.

RTO is measured from the termination of A (a mark on the timeline) to the first moment the
service answers correctly for its domain as resolved at every authoritative nameserver, on
B's address (the holding page does not count). RPO is the acknowledged writes of the load
against A that are missing on B, as a count and as the span of time they cover.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from migrate.errors import MigrateError
from migrate.failover.actions import http_ok, outputs_of, spec_of
from migrate.runbook.registry import action

if TYPE_CHECKING:
    from migrate.runbook.engine import StepContext

CHIRP_DIR = Path(__file__).resolve().parents[2] / "examples" / "chirp"


def _cli(ctx: StepContext, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "migrate"]
    if ctx.spec_path is not None:
        argv += ["--spec", str(ctx.spec_path)]
    return subprocess.run([*argv, *args], capture_output=True, text=True, timeout=timeout)


def _uses_sandbox_dns(ctx: StepContext) -> bool:
    spec = spec_of(ctx)
    return any(getattr(spec.dns_providers[n], "sandbox", None) for n in spec.dns.providers)


@action("sandbox.dns_up")
def sandbox_dns_up(ctx: StepContext) -> dict[str, Any]:
    if not _uses_sandbox_dns(ctx):
        return {"sandbox": False}
    done = _cli(ctx, "dns", "sandbox", "up")
    if done.returncode != 0:
        raise MigrateError(f"sandbox DNS servers did not start: {done.stderr.strip()[-300:]}")
    return {"sandbox": True}


@action("sandbox.dns_down")
def sandbox_dns_down(ctx: StepContext) -> dict[str, Any]:
    if not _uses_sandbox_dns(ctx):
        return {"sandbox": False}
    done = _cli(ctx, "dns", "sandbox", "down")
    return {"sandbox": True, "stopped": done.returncode == 0}


@action("drill.seed")
def seed(ctx: StepContext, target: str, db_mb: int = 0, media_mb: int = 0) -> dict[str, Any]:
    """Ballast so the drill moves realistic volumes: a table of rows and a set of media objects."""
    spec = spec_of(ctx)
    out = outputs_of(spec, target)
    result: dict[str, Any] = {"db_mb": int(db_mb), "media_mb": int(media_mb)}
    if int(db_mb) > 0 and out.database_url is not None:
        import psycopg

        rows = int(db_mb) * 1024  # ~1 KiB a row
        with psycopg.connect(out.database_url.get_secret_value(), autocommit=True) as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS drill_ballast (id bigint PRIMARY KEY, body text NOT NULL)")
            conn.execute("TRUNCATE drill_ballast")
            conn.execute("INSERT INTO drill_ballast SELECT g, repeat(md5(g::text), 32) FROM generate_series(1, %s) g",
                         (rows,))
        result["rows"] = rows
    if int(media_mb) > 0 and out.s3_endpoint and out.s3_buckets:
        import boto3

        bucket = next(iter(out.s3_buckets.values()))
        client = boto3.client("s3", endpoint_url=out.s3_endpoint, region_name=out.s3_region,
                              aws_access_key_id=out.s3_access_key.get_secret_value() if out.s3_access_key else None,
                              aws_secret_access_key=out.s3_secret_key.get_secret_value() if out.s3_secret_key else None)
        size = 4 * 1024 * 1024
        count = max(1, int(media_mb) // 4)
        from concurrent.futures import ThreadPoolExecutor

        def put(i: int) -> None:
            client.put_object(Bucket=bucket, Key=f"drill/ballast-{i:05d}.bin", Body=os.urandom(size))

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(put, range(count)))
        result["objects"] = count
    return result


@action("data.replicate")
def replicate(ctx: StepContext, source: str, dest: str) -> dict[str, Any]:
    from migrate.data import replication

    spec = spec_of(ctx)
    result = replication.start(spec, outputs_of(spec, source), outputs_of(spec, dest))
    from migrate.failover.actions import _plain

    return {"replication": _plain(result)}


@action("data.replication_stop")
def replication_stop(ctx: StepContext, source: str, dest: str) -> dict[str, Any]:
    from migrate.data import replication

    spec = spec_of(ctx)
    try:
        replication.stop(spec, outputs_of(spec, source), outputs_of(spec, dest))
    except MigrateError as exc:
        return {"stopped": False, "detail": str(exc)}
    return {"stopped": True}


@action("data.backup")
def backup(ctx: StepContext, source: str, location: str = "") -> dict[str, Any]:
    from migrate.data import backup as backups
    from migrate.failover.actions import _plain

    where = location or str(ctx.run_dir / "backup")
    result = backups.backup(spec_of(ctx), outputs_of(spec_of(ctx), source), where)
    return {"location": where, "result": _plain(result)}


@action("drill.mode_is")
def mode_is(ctx: StepContext, mode: str) -> tuple[bool, str]:
    actual = ctx.params.get("data_mode")
    return actual == mode, f"data mode is {actual}"


@action("drill.load_start")
def load_start(ctx: StepContext, target: str, rate: float = 50.0, seconds: float = 5.0) -> dict[str, Any]:
    """Start the chirp write load against A's HTTP front, detached, and let it run ``seconds``."""
    from providers.local.servers.process import alive, spawn

    spec = spec_of(ctx)
    out = outputs_of(spec, target)
    log = ctx.run_dir / "load.jsonl"
    state = ctx.run_dir / "load.pid"
    pid = int(state.read_text()) if state.exists() else None
    if pid is None or not alive(pid):
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(CHIRP_DIR), *sys.path])}
        pid = spawn([sys.executable, "-m", "chirp.load", "--url", f"http://{out.public_addresses[0]}:{out.http_port}",
                     "--host-header", spec.service.domain, "--rate", str(rate), "--out", str(log)],
                    ctx.run_dir / "load.log", env=env)
        state.write_text(str(pid))
    time.sleep(float(seconds))
    acked = _acked(log)
    if not acked:
        raise MigrateError(f"the write load got no acknowledged write from {target} in {seconds}s "
                           f"(see {ctx.run_dir / 'load.log'})")
    return {"pid": pid, "file": str(log), "acked_so_far": len(acked), "rate": rate}


def _acked(path: Path) -> list[dict[str, Any]]:
    acked = []
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if record.get("event") == "ack":
                acked.append(record)
    return acked


@action("drill.load_stop")
def load_stop(ctx: StepContext) -> dict[str, Any]:
    from providers.local.servers.process import stop

    state = ctx.run_dir / "load.pid"
    if state.exists():
        stop(int(state.read_text()), sig=signal.SIGTERM)
        state.unlink()
        return {"stopped": True}
    return {"stopped": False}


@action("drill.terminate")
def terminate(ctx: StepContext, target: str) -> dict[str, Any]:
    """Kill A outright (no graceful shutdown, no Pulumi call): the provider just vanished."""
    from migrate.chaos import terminate as chaos_terminate

    previous = ctx.results.get(ctx.step_id, {}).get("terminated_at")
    if previous:
        return {"terminated_at": previous}
    at = time.time()
    chaos_terminate(spec_of(ctx), target)
    ctx.mark(f"{target} terminated", at)
    return {"terminated_at": at}


@action("drill.measure")
def measure(ctx: StepContext, source: str, dest: str, timeout: float = 300.0) -> dict[str, Any]:
    """RTO: until the domain, resolved at every nameserver, answers correctly on B. RPO: acked writes lost."""
    from migrate.failover.nameservers import snapshot

    spec = spec_of(ctx)
    b = outputs_of(spec, dest)
    terminated_at = float(ctx.results["terminate"]["terminated_at"])
    path = spec.public_process()[1].health_path
    deadline = time.monotonic() + timeout
    restored_at = None
    while time.monotonic() < deadline:
        answers = snapshot(spec)
        addresses = {a for names in answers.values() for got in names.values() if isinstance(got, list) for a in got}
        complete = all(isinstance(got, list) and got for names in answers.values() for got in names.values())
        if complete and addresses and addresses <= set(b.public_addresses):
            checks = [http_ok(f"http://{a}:{b.http_port}{path}", host=spec.service.domain) for a in sorted(addresses)]
            if all(ok for ok, _ in checks):
                restored_at = time.time()
                break
        time.sleep(0.1)
    if restored_at is None:
        raise MigrateError(f"{spec.service.domain} did not answer from {dest} within {timeout:.0f}s of the swing")
    ctx.mark("service restored", restored_at)
    load_stop(ctx)
    acked = _acked(Path(ctx.results["load"]["file"]))
    missing: list[int] = []
    if b.database_url is not None and acked:
        sys.path.insert(0, str(CHIRP_DIR))
        from chirp.load import count_missing

        missing = count_missing([int(r["id"]) for r in acked], b.database_url.get_secret_value())
    lost = [r for r in acked if int(r["id"]) in set(missing)]
    last_ack = max((float(r["acked_at"]) for r in acked), default=terminated_at)
    rpo_seconds = (last_ack - min(float(r["acked_at"]) for r in lost)) if lost else 0.0
    ttl = spec.dns.ttl
    figures = {
        "rto_seconds": round(restored_at - terminated_at, 3),
        "rto_with_ttl_seconds": round(restored_at - terminated_at + ttl, 3),
        "dns_ttl_seconds": ttl,
        "rto_goal_seconds": spec.recovery.rto_seconds,
        "rpo_writes": len(missing),
        "rpo_seconds": round(rpo_seconds, 3),
        "rpo_goal_seconds": spec.recovery.rpo_seconds,
        "acked_writes": len(acked),
        "acked_after_termination": sum(1 for r in acked if float(r["acked_at"]) > terminated_at),
        "terminated_at": terminated_at,
        "restored_at": restored_at,
    }
    return {"figures": figures, "missing_ids": missing[:100]}


@action("drill.teardown")
def teardown(ctx: StepContext, source: str, dest: str, keep: bool = False) -> dict[str, Any]:
    """Remove everything the drill created; each part is attempted even if another fails."""
    from migrate.failover.actions import holding_down, target_destroy

    load_stop(ctx)
    if keep:
        return {"kept": [source, dest]}
    problems: list[str] = []
    for what, undo in (
        (f"holding page on {source}", lambda: holding_down(ctx, source)),
        (f"stack {dest}", lambda: target_destroy(ctx, dest)),
        (f"stack {source}", lambda: target_destroy(ctx, source)),
        ("sandbox DNS", lambda: sandbox_dns_down(ctx)),
    ):
        try:
            undo()
        except (MigrateError, OSError) as exc:
            problems.append(f"{what}: {exc}")
    if problems:
        raise MigrateError("teardown left things behind: " + "; ".join(problems))
    return {"removed": [source, dest]}
