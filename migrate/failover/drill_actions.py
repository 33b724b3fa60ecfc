"""Drill-only actions: sandbox DNS, seed data, write load, chaos termination, RTO/RPO, teardown.

RTO is measured from the termination of A (a mark on the timeline) to the first moment the
service answers correctly for its domain as resolved at every authoritative nameserver, on
B's address (the holding page does not count). RPO is what A acknowledged that B lacks, per
kind, as a count and as the span of time it covers: the writes and uploads of the spec's probes
(read back through B's front with the app's own API) and the canary's heartbeat rows and
objects (migrate's own, needing no app knowledge). The ``describe_*`` functions, registered
with their actions, say for ``--dry-run`` what a step would do.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from migrate.childenv import child_env, migrate_child_env
from migrate.errors import MigrateError
from migrate.failover.actions import (
    admin_url,
    check_verified,
    data_progress,
    http_ok,
    outputs_of,
    spec_of,
    where,
)
from migrate.runbook.registry import action

if TYPE_CHECKING:
    from migrate.outputs import TargetOutputs
    from migrate.runbook.runner import StepContext
    from migrate.spec.model import ServiceSpec


def _uses_sandbox_dns(ctx: StepContext) -> bool:
    spec = spec_of(ctx)
    return any(getattr(spec.dns_providers[n], "sandbox", None) for n in spec.dns.providers)


def describe_sandbox_dns(ctx: StepContext) -> dict[str, Any]:
    from migrate.dns import sandbox_servers

    if not _uses_sandbox_dns(ctx):
        return {"sandbox": False}
    states = sandbox_servers.status(spec_of(ctx))
    return {
        "starts": [f"{s.provider} ({s.kind} on {s.address}:{s.port})" for s in states if not s.running],
        "already running": [s.provider for s in states if s.running],
    }


@action("sandbox.dns_up", describe=describe_sandbox_dns)
def sandbox_dns_up(ctx: StepContext) -> dict[str, Any]:
    """Start the spec's sandbox DNS servers; remember which this run started (only those are
    stopped and removed at teardown: servers already running belong to someone else)."""
    from migrate.dns import sandbox_servers

    if not _uses_sandbox_dns(ctx):
        return {"sandbox": False}
    spec = spec_of(ctx)
    earlier = ctx.results.get(ctx.step_id, {}).get("started")  # a resumed run keeps its list
    running = {name for name, server in sandbox_servers.servers(spec) if server.running()}
    started = sorted(set(earlier or []) | {s.provider for s in sandbox_servers.up(spec)} - running)
    return {"sandbox": True, "started": started, "already_running": sorted(running - set(earlier or []))}


@action("sandbox.dns_down")
def sandbox_dns_down(ctx: StepContext) -> dict[str, Any]:
    """Stop the sandbox DNS servers this run started and remove their directories."""
    import shutil

    from migrate.dns import sandbox_servers

    if not _uses_sandbox_dns(ctx):
        return {"sandbox": False}
    started = set(ctx.results.get("sandbox-dns", {}).get("started", []))
    stopped = []
    for name, server in sandbox_servers.servers(spec_of(ctx)):
        if name in started:
            server.stop()
            shutil.rmtree(server.directory, ignore_errors=True)
            with contextlib.suppress(OSError):  # the sandbox's dns/ directory, once empty
                server.directory.parent.rmdir()
            stopped.append(name)
    return {"sandbox": True, "stopped": stopped}


@action("drill.seed")
def seed(ctx: StepContext, target: str, db_mb: int = 0, media_mb: int = 0) -> dict[str, Any]:
    """Ballast so the drill moves realistic volumes: a table of rows and a set of media objects."""
    out = outputs_of(ctx, target)
    result: dict[str, Any] = {"db_mb": int(db_mb), "media_mb": int(media_mb)}
    if int(db_mb) > 0 and out.database_url is not None:
        import psycopg

        rows = int(db_mb) * 1024  # ~1 KiB a row
        with psycopg.connect(out.database_url.get_secret_value(), autocommit=True) as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS drill_ballast (id bigint PRIMARY KEY, body text NOT NULL)")
            conn.execute("TRUNCATE drill_ballast")
            conn.execute(
                "INSERT INTO drill_ballast SELECT g, repeat(md5(g::text), 32) FROM generate_series(1, %s) g", (rows,)
            )
        result["rows"] = rows
    if int(media_mb) > 0 and out.s3_endpoint and out.s3_buckets:
        import boto3

        bucket = next(iter(out.s3_buckets.values()))
        client = boto3.client(
            "s3",
            endpoint_url=out.s3_endpoint,
            region_name=out.s3_region,
            aws_access_key_id=out.s3_access_key.get_secret_value() if out.s3_access_key else None,
            aws_secret_access_key=out.s3_secret_key.get_secret_value() if out.s3_secret_key else None,
        )
        size = 4 * 1024 * 1024
        count = max(1, int(media_mb) // 4)
        from concurrent.futures import ThreadPoolExecutor

        def put(i: int) -> None:
            client.put_object(Bucket=bucket, Key=f"drill/ballast-{i:05d}.bin", Body=os.urandom(size))

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(put, range(count)))
        result["objects"] = count
    return result


def describe_replicate(ctx: StepContext, source: str, dest: str, synchronous: bool = False) -> dict[str, Any]:
    spec = spec_of(ctx)
    if spec.postgres is None:
        return {"replicates": None, "why": "the spec has no postgres"}
    return {
        "replicates": f"{source} → {dest}",
        "how": "logical replication, " + ("synchronous (RPO 0)" if bool(synchronous) else "asynchronous"),
    }


@action("data.replicate", describe=describe_replicate)
def replicate(ctx: StepContext, source: str, dest: str, synchronous: bool = False) -> dict[str, Any]:
    """Warm standby: logical replication A → B, waited on until every table is streaming.

    Synchronous: A's commits wait for B, so no acknowledged write can be lost with A.
    """
    from migrate.data import replication

    spec = spec_of(ctx)
    a, b = outputs_of(ctx, source), outputs_of(ctx, dest)
    state = replication.start(
        spec, a, b, admin_url=admin_url(b), synchronous=bool(synchronous), source_admin_url=admin_url(a)
    )
    if not state.ok or state.state != "streaming":
        raise MigrateError(f"replication {source} → {dest} is not streaming: {state.describe()}")
    return {"replication": state.to_json()}


@action("data.replication_stop")
def replication_stop(ctx: StepContext, source: str, dest: str) -> dict[str, Any]:
    from migrate.data import replication

    spec = spec_of(ctx)
    try:
        b = outputs_of(ctx, dest)
        a = outputs_of(ctx, source)
        replication.stop(spec, a, b, admin_url=admin_url(b), source_admin_url=admin_url(a))
    except MigrateError as exc:
        return {"stopped": False, "detail": str(exc)}
    return {"stopped": True}


def describe_media(ctx: StepContext, source: str, dest: str, **_: Any) -> dict[str, Any]:
    spec = spec_of(ctx)
    if spec.media is None:
        return {"media": False}
    return {"buckets": [bucket.name for bucket in spec.media.buckets], "from": source, "to": dest}


@action("data.media_copy", describe=describe_media)
def media_copy(ctx: StepContext, source: str, dest: str) -> dict[str, Any]:
    """Copy A's media to B while A lives, verified object by object.

    Logical replication carries rows only; media written after this copy and before A dies is
    lost with A (the sandbox's object store is in memory): ``drill.terminate`` counts it and
    the report adds it to the RPO as ``media_objects_lost``.
    """
    from migrate.data.move import sync

    spec = spec_of(ctx)
    if spec.media is None:
        return {"media": False}
    result = sync(spec, outputs_of(ctx, source), outputs_of(ctx, dest), postgres=False, progress=data_progress(ctx))
    check_verified(ctx, f"media copy {source} → {dest}", result)
    return {"result": result.to_json()}


def _start_detached(ctx: StepContext, name: str, argv: list[str], env: dict[str, str]) -> int:
    """Start ``argv`` in its own session unless this run's ``name`` process still lives (a resumed
    step must not start a second one); its pid is kept in the run directory, its output in name.log."""
    from providers.local.servers.process import alive, spawn

    state = ctx.run_dir / f"{name}.pid"
    pid = int(state.read_text()) if state.exists() else None
    if pid is None or not alive(pid):
        pid = spawn(argv, ctx.run_dir / f"{name}.log", env=env)
        state.write_text(str(pid))
    return pid


def _stop_detached(ctx: StepContext, name: str, grace: float = 10.0) -> bool:
    """SIGTERM this run's ``name`` process (it flushes what it has), SIGKILL after ``grace``
    seconds; False if none was started."""
    from providers.local.servers.process import stop

    state = ctx.run_dir / f"{name}.pid"
    if not state.exists():
        return False
    stop(int(state.read_text()), sig=signal.SIGTERM, timeout=grace)
    state.unlink()
    return True


@action("data.follow_start", describe=describe_media)
def follow_start(
    ctx: StepContext, source: str, dest: str, interval: float = 0.5, events: str = "auto"
) -> dict[str, Any]:
    """Run ``migrate data follow`` detached: B's media stays within one pass of A's until A dies.

    The same command an operator runs beside ``data replicate`` for a warm standby; its state
    file gives the lag at the kill. ``events``: ``data follow --events`` (auto: A's event
    notifications where it has them, so an upload is copied as it lands, not a pass later).
    """
    from providers.local.servers.process import alive

    spec = spec_of(ctx)
    if spec.media is None:
        return {"media": False}
    if ctx.spec_path is None:
        raise MigrateError("the media follower needs the spec's path (-f/--spec)")
    status = ctx.run_dir / "follow.json"
    pid = _start_detached(
        ctx,
        "follow",
        [
            sys.executable,
            "-m",
            "migrate",
            "-f",
            str(ctx.spec_path),
            "data",
            "follow",
            "--from",
            source,
            "--to",
            dest,
            "--interval",
            str(interval),
            "--events",
            events,
            "--status",
            str(status),
            "--json",
        ],
        migrate_child_env(),
    )
    deadline = time.monotonic() + 60
    while not _follow_state(ctx).get("passes"):  # one good pass: the follower works
        if not alive(pid) or time.monotonic() > deadline:
            raise MigrateError(
                f"the media follower {source} → {dest} made no good pass (see {ctx.run_dir / 'follow.log'})"
            )
        time.sleep(0.1)
    return {
        "pid": pid,
        "status": str(status),
        "interval": float(interval),
        "events": _follow_state(ctx).get("events", "off"),
    }


def _follow_state(ctx: StepContext) -> dict[str, Any]:
    try:
        state: dict[str, Any] = json.loads((ctx.run_dir / "follow.json").read_text())
    except (OSError, ValueError):
        return {}
    return state


@action("data.follow_stop")
def follow_stop(ctx: StepContext, grace: float = 10.0) -> dict[str, Any]:
    """Stop the media follower; report how far behind A it was when it stopped (its state file,
    written after every pass)."""
    if not _stop_detached(ctx, "follow", grace):
        return {"stopped": False}
    return {"stopped": True, **{k: v for k, v in _follow_state(ctx).items() if k != "last_error"}}


def describe_backup(ctx: StepContext, source: str, location: str = "") -> dict[str, Any]:
    return {"of": where(spec_of(ctx), source), "location": location or "backup/ in the run's directory"}


@action("data.backup", describe=describe_backup)
def backup(ctx: StepContext, source: str, location: str = "") -> dict[str, Any]:
    """A backup off A (default: a directory of this run, on the machine running the drill)."""
    from migrate.data.locations import parse_location
    from migrate.data.move import backup as take_backup

    spec = spec_of(ctx)
    where = location or str((ctx.run_dir / "backup").resolve())
    result = take_backup(spec, outputs_of(ctx, source), parse_location(where), progress=data_progress(ctx))
    check_verified(ctx, f"backup of {source} to {where}", result)
    return {"location": where, "backup_id": result.backup_id, "result": result.to_json()}


def describe_mode(ctx: StepContext, mode: str) -> dict[str, Any]:
    holds, detail = mode_is(ctx, mode)
    return {"holds": holds, "detail": detail}


@action("drill.mode_is", describe=describe_mode)
def mode_is(ctx: StepContext, mode: str) -> tuple[bool, str]:
    actual = ctx.params.get("data_mode")
    return actual == mode, f"data mode is {actual}"


@action("drill.canary_prepare")
def canary_prepare(ctx: StepContext, target: str) -> dict[str, Any]:
    """The canary's heartbeat table on A, before replication starts (a standby carries it)."""
    from migrate.probes import canary

    return {"table": canary.TABLE if canary.prepare(outputs_of(ctx, target)) else None}


def _front(out: TargetOutputs) -> str:
    return f"http://{out.public_addresses[0]}:{out.http_port}"


def describe_load(
    ctx: StepContext, target: str, rate: float = 50.0, seconds: float = 5.0, image_every: int = 0
) -> dict[str, Any]:
    spec = spec_of(ctx)
    probes = spec.probes
    every, rate, seconds = int(image_every), float(rate), float(seconds)
    return {
        "against": where(spec, target),
        "load": f"{rate:g} writes/s for {seconds:g}s (about {round(rate * seconds)} writes)",
        "writes": f"{probes.write.method} {probes.write.path}" if probes else "none: the spec has no probes",
        "uploads": f"every {every}th write" if probes and probes.upload and every else "none",
        "canary": "heartbeat rows and objects",
    }


@action("drill.load_start", describe=describe_load)
def load_start(
    ctx: StepContext, target: str, rate: float = 50.0, seconds: float = 5.0, image_every: int = 0
) -> dict[str, Any]:
    """Start the spec's probes as a write load against A's front (detached) and the canary (a
    thread of this process), and let them run ``seconds``."""
    from migrate.probes.canary import Canary, read_acks

    spec = spec_of(ctx)
    out = outputs_of(ctx, target)
    log = ctx.run_dir / "load.jsonl"
    canary_log = ctx.run_dir / "canary.jsonl"
    pid = None
    if spec.probes is not None:
        config = ctx.run_dir / "load.json"
        config.write_text(
            json.dumps(
                {
                    "base_url": _front(out),
                    "host": spec.service.domain,
                    "rate": float(rate),
                    "image_every": int(image_every),
                    "probes": spec.probes.model_dump(mode="json"),
                }
            )
        )
        pid = _start_detached(
            ctx,
            "load",
            [sys.executable, "-m", "migrate.probes.load", "--config", str(config), "--out", str(log)],
            _runner_env(spec),
        )
    if "canary" not in ctx.held:
        canary = Canary(spec, out, canary_log)
        canary.start()
        ctx.held["canary"] = canary
    started = time.time()
    time.sleep(float(seconds))
    acked = _acked(log)
    if spec.probes is not None and not acked:
        # A slow app (its setup requests, a first write that warms it) gets a grace, and the
        # load then runs ``seconds`` from its first acknowledged write, so the drill measures
        # writes in flight rather than a start-up.
        grace = max(10.0, 2 * float(spec.probes.timeout_seconds))
        deadline = time.monotonic() + grace
        while not acked and time.monotonic() < deadline:
            time.sleep(0.2)
            acked = _acked(log)
        if not acked:
            raise MigrateError(
                f"the probes got no acknowledged write from {target} in {float(seconds) + grace:.0f}s"
                f" (see {ctx.run_dir / 'load.jsonl'})"
            )
        first = min(float(a.get("acked_at") or started) for a in acked)
        time.sleep(max(0.0, first + float(seconds) - time.time()))
        acked = _acked(log)
    canary_acks = read_acks(canary_log)
    if spec.probes is None and not canary_acks and (out.database_url or spec.media):
        raise MigrateError(f"the canary got no acknowledged write from {target} in {seconds}s")
    return {
        "pid": pid,
        "file": str(log),
        "canary_file": str(canary_log),
        "acked_so_far": len(acked),
        "canary_acked_so_far": len(canary_acks),
        "rate": rate,
        "probes": spec.probes is not None,
    }


def _runner_env(spec: ServiceSpec) -> dict[str, str]:
    """The load runner's environment: the basics, migrate's import path, and only the variables
    its probes' headers name ({env:NAME}); none of migrate's own secrets."""
    from migrate.spec.probes import PLACEHOLDER

    assert spec.probes is not None
    requests = [*spec.probes.setup, spec.probes.write, *([spec.probes.upload] if spec.probes.upload else [])]
    named = {
        m.group("arg")
        for request in requests
        for value in request.headers.values()
        for m in PLACEHOLDER.finditer(value)
        if m.group("name") == "env"
    }
    return child_env({"PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}, keep=sorted(named))


def _stop_canary(ctx: StepContext) -> bool:
    canary = ctx.held.pop("canary", None)
    if canary is None:
        return False
    canary.stop()
    return True


def _events(path: Path) -> list[dict[str, Any]]:
    from migrate.probes.load import read_events

    return read_events(path)


def _acked(path: Path) -> list[dict[str, Any]]:
    return _acks_in(_events(path))


def _acks_in(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [record for record in events if record.get("event") == "ack"]


def _setup_values(events: list[dict[str, Any]]) -> dict[str, Any]:
    """What the load's setup requests captured (the last setup wins)."""
    values: dict[str, Any] = {}
    for record in events:
        if record.get("event") == "setup":
            values = dict(record.get("values") or {})
    return values


@action("drill.load_stop")
def load_stop(ctx: StepContext) -> dict[str, Any]:
    return {"stopped": _stop_detached(ctx, "load"), "canary_stopped": _stop_canary(ctx)}


def media_keys(spec: ServiceSpec, out: TargetOutputs) -> dict[str, list[str]]:
    """Spec bucket → object keys stored there now (empty when the service keeps no media)."""
    from migrate.data.endpoints import s3_endpoint
    from migrate.data.stores import S3Store

    if spec.media is None or not out.s3_endpoint:
        return {}
    endpoint = s3_endpoint(out)
    return {b.name: sorted(S3Store(endpoint, out.s3_buckets.get(b.name, b.name)).list()) for b in spec.media.buckets}


def describe_terminate(ctx: StepContext, target: str) -> dict[str, Any]:
    from providers.registry import hosting_adapter

    spec = spec_of(ctx)
    adapter = hosting_adapter(spec.target(target).provider)
    if not adapter.supports.terminate:
        return {"fails": adapter.unsupported("terminate", target)}
    return {"terminates": target, "how": f"{where(spec, target)} cut off by its adapter, no goodbye"}


@action("drill.terminate", describe=describe_terminate)
def terminate(ctx: StepContext, target: str) -> dict[str, Any]:
    """Kill A outright (no graceful shutdown, no Pulumi call): the provider just vanished.

    Just before, A's media listing is saved: after recovery, objects A held that B lacks are
    media lost with A (the sandbox's object store lives in memory and dies with it).
    """
    from migrate.chaos import terminate as chaos_terminate

    previous = ctx.results.get(ctx.step_id, {}).get("terminated_at")
    if previous:
        return {"terminated_at": previous}
    spec = spec_of(ctx)
    listing = ctx.run_dir / "media-at-termination.json"
    try:
        listing.write_text(json.dumps(media_keys(spec, outputs_of(ctx, target))))
    except MigrateError as exc:
        ctx.log(f"could not list {target}'s media before the kill: {exc}")
    at = time.time()
    killed = chaos_terminate(spec, target)
    ctx.mark(f"{target} terminated", at)
    _stop_canary(ctx)  # its writes to A can only fail from here on
    # Its source is gone: its last good pass bounds the media lost, and the pass under way can
    # only fail, after seconds of connection retries the recovery (and the RTO) must not wait for.
    follower = follow_stop(ctx, grace=0.5)
    if follower.get("stopped"):
        ctx.log(
            f"media follower stopped: {follower.get('passes')} passes, last good pass began "
            f"{max(0.0, at - float(follower.get('synced_as_of') or at)):.2f}s before the kill"
        )
    return {"terminated_at": at, "processes_killed": len(killed.stopped), "media_follower": follower}


def _wait_restored(ctx: StepContext, dest: str, timeout: float) -> tuple[float, dict[str, Any]]:
    """The first moment every authoritative nameserver serves B's addresses for every owned
    record and the service answers at each of them for its domain (not the holding page)."""
    from migrate.dns.verify import verify

    spec = spec_of(ctx)
    b = outputs_of(ctx, dest)
    path = spec.public_process()[1].health_path
    deadline = time.monotonic() + timeout
    while True:
        dns = verify(spec, outputs=b, timeout=0.1)
        checks = [http_ok(f"http://{a}:{b.http_port}{path}", host=spec.service.domain) for a in b.public_addresses]
        if dns.ok and all(ok for ok, _ in checks):
            return time.time(), {
                "nameservers": [s.server.where for s in dns.servers],
                "answers": [detail for _, detail in checks],
            }
        if time.monotonic() > deadline:
            wrong = [s.server.where for s in dns.servers if not s.ok]
            raise MigrateError(
                f"{spec.service.domain} did not answer from {dest} within {timeout:.0f}s "
                f"(nameservers not serving {dest}: {', '.join(wrong) or 'none'}; "
                f"service: {'; '.join(d for _, d in checks)})"
            )
        time.sleep(0.1)


def _media_lost(ctx: StepContext, after: dict[str, list[str]]) -> int | None:
    listing = ctx.run_dir / "media-at-termination.json"
    if not listing.exists():
        return None
    before: dict[str, list[str]] = json.loads(listing.read_text())
    return sum(len(set(keys) - set(after.get(bucket, []))) for bucket, keys in before.items())


def _achieved_rate(acks: list[dict[str, Any]], until: float) -> float | None:
    """Acknowledged writes per second from the first one to the kill: was the asked rate really carried?"""
    before = [float(r["sent_at"]) for r in acks if float(r["acked_at"]) <= until]
    if len(before) < 2 or until <= min(before):
        return None
    return round(len(before) / (until - min(before)), 1)


def _span(acks: list[dict[str, Any]], lost: list[dict[str, Any]], default: float) -> float:
    """The RPO as time: from the oldest lost acknowledgement to the last acknowledgement."""
    if not lost:
        return 0.0
    last_ack = max((float(r["acked_at"]) for r in acks), default=default)
    return last_ack - min(float(r["acked_at"]) for r in lost)


def describe_measure(ctx: StepContext, source: str, dest: str, timeout: float = 300.0) -> dict[str, Any]:
    recovery = spec_of(ctx).recovery
    return {
        "rto": f"from the kill of {source} until the domain answers on {dest} at every nameserver",
        "rpo": f"acknowledged writes, uploads and canary entries of {source} missing on {dest}",
        "recovery goal": f"RTO {recovery.rto_seconds}s, RPO {recovery.rpo_seconds}s",
        "waits at most": f"{float(timeout):g}s",
    }


@action("drill.measure", describe=describe_measure)
def measure(ctx: StepContext, source: str, dest: str, timeout: float = 300.0) -> dict[str, Any]:
    """RTO: until the domain, resolved at every nameserver, answers correctly on B. RPO: acked writes lost."""
    spec = spec_of(ctx)
    b = outputs_of(ctx, dest)
    terminated_at = float(ctx.results["terminate"]["terminated_at"])
    restored_at, evidence = _wait_restored(ctx, dest, timeout)
    ctx.mark("service restored", restored_at)
    load_stop(ctx)
    load = ctx.results.get("load", {})
    events = _events(Path(load["file"])) if load.get("file") else []  # the load's file, read once
    acked = _acks_in(events)
    lost: list[dict[str, Any]] = []
    media_lost: list[dict[str, Any]] = []
    read_errors: dict[str, int] = {}
    if spec.probes is not None and acked:
        from migrate.probes.readback import read_back

        checked = read_back(
            spec.probes,
            acked,
            base_url=_front(b),
            host=spec.service.domain,
            run=_run_of(events),
            setup_values=_setup_values(events),
        )
        lost, media_lost, read_errors = checked.lost, checked.uploads_lost, checked.errors
    lost_seqs = {int(r["seq"]) for r in lost}
    media_on_b = media_keys(spec, b)
    media_acks = [r for r in acked if r.get("kind") == "upload"]
    rows_lost, objects_lost, canary_acks = _canary_missing(ctx, spec, b, load)
    canary_rows = [a for a in canary_acks if a["kind"] == "row"]
    canary_objects = [a for a in canary_acks if a["kind"] == "object"]
    follower = ctx.results.get("terminate", {}).get("media_follower") or {}
    data_step = ctx.results.get("data", {})
    figures = {
        "rto_seconds": round(restored_at - terminated_at, 3),
        "rto_with_ttl_seconds": round(restored_at - terminated_at + spec.dns.ttl, 3),
        "dns_ttl_seconds": spec.dns.ttl,
        "rto_goal_seconds": spec.recovery.rto_seconds,
        "rpo_writes": len(lost),
        "rpo_seconds": round(_span(acked, lost, terminated_at), 3),
        "rpo_goal_seconds": spec.recovery.rpo_seconds,
        "media_objects_lost": _media_lost(ctx, media_on_b),
        "media_writes": len(media_acks),
        "media_writes_lost": len(media_lost),
        "media_rpo_seconds": round(_span(acked, media_lost, terminated_at), 3),
        "posts_missing_their_media": sum(1 for r in media_lost if int(r["seq"]) not in lost_seqs),
        "media_follower_passes": follower.get("passes"),
        "media_follower_slowest_pass_seconds": follower.get("slowest_pass_seconds"),
        "media_follower_events": follower.get("events"),
        "media_follower_median_announced_copy_seconds": follower.get("median_announced_copy_seconds"),
        "acked_writes": len(acked),
        "acked_after_termination": sum(1 for r in acked if float(r["acked_at"]) > terminated_at),
        "load_rate_asked": float(ctx.results.get("load", {}).get("rate") or 0),
        "load_rate_achieved": _achieved_rate(acked, terminated_at),
        "data_route": data_step.get("route"),
        "rpo": {
            "probe_writes": _kind(acked, lost, terminated_at),
            "probe_uploads": _kind(media_acks, media_lost, terminated_at, stream=acked),
            "canary_rows": _kind(canary_rows, rows_lost, terminated_at),
            "canary_objects": _kind(canary_objects, objects_lost, terminated_at),
        },
        "probes": spec.probes is not None,
        "canary_rate_achieved": _achieved_rate(canary_rows, terminated_at),
        "terminated_at": terminated_at,
        "restored_at": restored_at,
    }
    return {
        "figures": figures,
        "lost_writes": [{"seq": r["seq"], **(r.get("values") or {})} for r in lost[:100]],
        "read_back_errors": read_errors,
        "restored": evidence,
    }


def _run_of(events: list[dict[str, Any]]) -> str:
    """The load run's id (its first line): read-backs may name it ({run})."""
    for event in events:
        if event.get("event") == "start":
            return str(event.get("run"))
    return ""


def _kind(
    acks: list[dict[str, Any]],
    lost: list[dict[str, Any]],
    terminated_at: float,
    stream: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """One kind's RPO: how many A acknowledged, how many B lacks, and the time from the oldest
    lost one to the last acknowledgement of its ``stream`` (uploads: of every probe write)."""
    span = _span(acks if stream is None else stream, lost, terminated_at)
    return {"acked": len(acks), "lost": len(lost), "seconds": round(span, 3)}


def _canary_missing(
    ctx: StepContext, spec: ServiceSpec, b: TargetOutputs, load: dict[str, Any]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    from migrate.probes import canary

    acks = canary.read_acks(Path(load["canary_file"])) if load.get("canary_file") else []
    try:
        rows, objects = canary.missing(spec, b, acks)
    except Exception as exc:  # psycopg/botocore: B not answering is a failed measurement
        raise MigrateError(f"could not count the canary on {b.target}: {type(exc).__name__}: {exc}") from None
    return rows, objects, acks


def _remove_canary(ctx: StepContext, target: str) -> None:
    from migrate.probes import canary

    if "canary" not in ctx.results:
        return
    spec = spec_of(ctx)
    canary.remove(spec, outputs_of(ctx, target))


def _remove_own_backup(ctx: StepContext) -> None:
    """The backup the drill took into its run directory holds the data unencrypted: remove it."""
    import shutil

    location = ctx.results.get("backup", {}).get("location")
    run_dir = ctx.run_dir.resolve()
    if location and Path(location).resolve().is_relative_to(run_dir):
        shutil.rmtree(location, ignore_errors=True)


def describe_teardown(ctx: StepContext, source: str, dest: str, keep: bool = False) -> dict[str, Any]:
    if keep:
        return {"keeps": [source, dest], "stops": "the load, the media follower"}
    return {
        "destroys": f"the stacks this run created of {dest} and {source}",
        "stops": "the load, the media follower, the holding page, the sandbox DNS servers this run started",
        "removes": "the canary's table and objects, the drill's own backup",
    }


@action("drill.teardown", describe=describe_teardown)
def teardown(ctx: StepContext, source: str, dest: str, keep: bool = False) -> dict[str, Any]:
    """Remove everything the drill created; each part is attempted even if another fails."""
    from migrate.failover.actions import holding_down, target_destroy_created

    load_stop(ctx)
    follow_stop(ctx)
    for target in (dest, source):  # the canary's own table and objects; the source may be dead
        try:
            _remove_canary(ctx, target)
        except Exception as exc:  # psycopg/botocore errors: a dead target keeps what died with it
            ctx.log(f"canary left on {target}, which does not answer ({type(exc).__name__}): it died with it")
    if keep:
        return {"kept": [source, dest]}
    problems: list[str] = []
    for what, undo in (
        (f"holding page on {source}", lambda: holding_down(ctx, source)),
        (f"stack {dest}", lambda: target_destroy_created(ctx, dest)),
        (f"stack {source}", lambda: target_destroy_created(ctx, source)),
        ("sandbox DNS", lambda: sandbox_dns_down(ctx)),
        ("the drill's backup", lambda: _remove_own_backup(ctx)),
    ):
        try:
            undo()
        except (MigrateError, OSError) as exc:
            problems.append(f"{what}: {exc}")
    if problems:
        raise MigrateError("teardown left things behind: " + "; ".join(problems))
    from migrate.failover.actions import created_by_run

    return {"removed": [t for t in (source, dest) if created_by_run(ctx, t)]}
