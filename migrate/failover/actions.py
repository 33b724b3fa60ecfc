"""The failover actions the runbooks name: holding page, provision, data, smoke, DNS, verify.

Each is re-runnable (a resumed run repeats the step that was under way), takes target names,
and reads secrets only from the engine's outputs at run time: the journal gets the redacted
outputs, so nothing secret is ever handed from step to step through it. Most have a describer
(``describe_*``, registered with it) saying for ``--dry-run`` what the step would do.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from migrate.errors import InputError, MigrateError
from migrate.runbook.registry import action
from migrate.spec.probes import HttpCheck

if TYPE_CHECKING:
    from contextlib import ExitStack

    from migrate.data.move import SyncResult
    from migrate.outputs import TargetOutputs
    from migrate.runbook.dry_run import PlanContext
    from migrate.runbook.runner import StepContext
    from migrate.spec.model import ServiceSpec


def spec_of(ctx: StepContext) -> ServiceSpec:
    if ctx.spec is None:
        raise InputError("this runbook needs a service spec (-f/--spec)")
    return ctx.spec


def outputs_of(ctx: StepContext, target: str) -> TargetOutputs:
    """The target's outputs, read once per run from the state backend (reading runs the Pulumi
    CLI, seconds) and kept in the run's context, which concurrent steps share; ``target.up``
    refreshes the entry, ``target.destroy`` drops it, a resumed run reads them afresh."""
    from migrate.engine.stack_outputs import load_outputs

    if target not in ctx.outputs:
        ctx.outputs[target] = load_outputs(spec_of(ctx), target)
    return ctx.outputs[target]


def holding_address(spec: ServiceSpec, target: str, read_outputs: Callable[[], TargetOutputs]) -> tuple[str, int]:
    """Where the holding page for ``target`` listens: the target's own public address and port,
    where its adapter can serve one there once it is gone (``supports.holding_page``)."""
    from providers.registry import hosting_adapter

    settings = spec.target(target)
    adapter = hosting_adapter(settings.provider)
    if not adapter.supports.holding_page:
        raise InputError(adapter.unsupported("holding_page", target))
    return adapter.holding_address(spec, target, settings, read_outputs)


def known_outputs(ctx: StepContext, target: str) -> TargetOutputs | None:
    """The target's outputs if it is deployed now (read-only), else None: for describers."""
    try:
        return outputs_of(ctx, target)
    except MigrateError:
        return None


def where(spec: ServiceSpec, target: str) -> str:
    """``target (provider, address)``: a target as a plan names it."""
    settings = spec.target(target)
    address = getattr(settings, "address", None)
    return f"{target} ({settings.provider}{', ' + address if address else ''})"


def planned_by(ctx: PlanContext, what: str, value: str) -> str | None:
    """The earlier step of a dry run whose plan says it does ``what`` to ``value`` (``deploys``
    a target, ``terminates`` one, ``replicates`` ``A → B``), if one does."""
    return next((step for step, plan in ctx.plans.items() if plan.get(what) == value), None)


_HTTP: list[Any] = []  # one client for the process: a new one per check costs a TLS context each time


def _http_client() -> Any:
    import httpx

    if not _HTTP:
        _HTTP.append(httpx.Client())
    return _HTTP[0]


def http_ok(url: str, *, host: str | None = None, timeout: float = 3.0) -> tuple[bool, str]:
    import httpx

    try:
        response = _http_client().get(url, headers={"Host": host} if host else None, timeout=timeout)
    except httpx.HTTPError as exc:
        return False, f"{url}: {type(exc).__name__}: {exc}"
    if response.headers.get("x-migrate-holding") == "1":
        return False, f"{url}: the holding page answers, not the service"
    return response.status_code == 200, f"{url}: HTTP {response.status_code}"


# -- health ----------------------------------------------------------------------------------------
@action("target.healthy")
def target_healthy(ctx: StepContext, target: str) -> tuple[bool, str]:
    try:
        out = outputs_of(ctx, target)
    except MigrateError as exc:
        return False, f"{target} has no outputs: {exc}"
    return http_ok(out.health_url)


@action("target.down")
def target_down(ctx: StepContext, target: str) -> tuple[bool, str]:
    """Precondition of the holding page: the old target really does not answer."""
    spec = spec_of(ctx)
    try:
        address, port = holding_address(spec, target, lambda: outputs_of(ctx, target))
        path = spec.public_process()[1].health_path
        healthy, detail = http_ok(f"http://{address}:{port}{path}", timeout=2.0)
    except MigrateError:
        healthy, detail = target_healthy(ctx, target)
    return not healthy, detail if healthy else f"{target} does not answer ({detail})"


# -- holding page ----------------------------------------------------------------------------------
def describe_holding(ctx: StepContext, on: str) -> dict[str, Any]:
    spec = spec_of(ctx)
    try:
        address, port = holding_address(spec, on, lambda: outputs_of(ctx, on))
    except MigrateError as exc:
        return {"on": where(spec, on), "address": f"unknown now: {exc}"}
    return {"on": where(spec, on), "url": f"http://{address}:{port}/", "title": spec.holding_page.title}


@action("holding_page.up", describe=describe_holding)
def holding_up(ctx: StepContext, on: str) -> dict[str, Any]:
    from migrate import holding_page

    spec = spec_of(ctx)
    address, port = holding_address(spec, on, lambda: outputs_of(ctx, on))
    result = holding_page.up(address, port, spec.holding_page.title, spec.holding_page.message)
    ctx.log(f"holding page up at {result['url']} in {result['seconds']:.2f}s")
    return result


@action("holding_page.down", describe=describe_holding)
def holding_down(ctx: StepContext, on: str) -> dict[str, Any]:
    from migrate import holding_page

    address, port = holding_address(spec_of(ctx), on, lambda: outputs_of(ctx, on))
    return {"stopped": holding_page.down(address, port)}


def describe_holding_needed(ctx: PlanContext, target: str, on: str) -> dict[str, Any]:
    """Asked now, unless an earlier step changes ``target``: terminated, it will be down;
    deployed by this run, whether it answers then cannot be told yet."""
    from providers.registry import hosting_adapter

    terminating = planned_by(ctx, "terminates", target)
    if terminating is None and planned_by(ctx, "deploys", target) is not None:
        return {}
    if terminating is None:
        holds, detail = holding_needed(ctx, target, on)
        return {"holds": holds, "detail": detail}
    adapter = hosting_adapter(spec_of(ctx).target(on).provider)
    if not adapter.supports.holding_page:
        return {"holds": False, "detail": adapter.unsupported("holding_page", on)}
    return {"holds": True, "detail": f"step {terminating} terminates {target}"}


@action("holding_page.needed", describe=describe_holding_needed)
def holding_needed(ctx: StepContext, target: str, on: str) -> tuple[bool, str]:
    """Precondition of the holding page: ``target`` is down and ``on``'s adapter can serve a
    page on its address; else the step is skipped with the line saying why (and the way out)."""
    from providers.registry import hosting_adapter

    spec = spec_of(ctx)
    adapter = hosting_adapter(spec.target(on).provider)
    if not adapter.supports.holding_page:
        return False, adapter.unsupported("holding_page", on)
    return target_down(ctx, target)


@action("holding_page.serving")
def holding_serving(ctx: StepContext, on: str) -> tuple[bool, str]:
    from migrate import holding_page
    from providers.registry import hosting_adapter

    spec = spec_of(ctx)
    adapter = hosting_adapter(spec.target(on).provider)
    if not adapter.supports.holding_page:
        return False, adapter.unsupported("holding_page", on)
    address, port = holding_address(spec, on, lambda: outputs_of(ctx, on))
    ok = holding_page.is_serving(address, port)
    return ok, f"http://{address}:{port}/ {'serves' if ok else 'does not serve'} the holding page"


# -- provision ---------------------------------------------------------------------------------------
def describe_target_up(ctx: StepContext, target: str) -> dict[str, Any]:
    from migrate.engine.workspace import stack_name

    spec = spec_of(ctx)
    out = known_outputs(ctx, target)
    return {
        "deploys": target,
        "target": where(spec, target),
        "stack": stack_name(spec, target),
        "engine": "converges the deployed stack" if out is not None else "creates the stack (not deployed now)",
        "processes": {name: proc.replicas for name, proc in spec.processes.items()},
    }


@action("target.up", describe=describe_target_up)
def target_up(ctx: StepContext, target: str) -> dict[str, Any]:
    """Deploy (or converge) the target's stack through the Pulumi engine; idempotent.

    The update runs in a process of its own (``migrate.engine.detached``): a failover killed
    while provisioning leaves it to finish rather than cutting it halfway, and the resumed
    step waits for it, then converges. Without a spec file to hand on, it runs in-process.
    """
    from migrate.engine.detached import up_detached
    from migrate.engine.stack import up

    started = time.monotonic()
    spec = spec_of(ctx)
    ctx.outputs.pop(target, None)
    record_creation(ctx, target)
    if ctx.spec_path is None:
        outputs = up(spec, target, on_event=engine_progress(ctx, target))
        ctx.outputs[target] = outputs
        return {"outputs": outputs.public_view(), "seconds": round(time.monotonic() - started, 2)}
    outputs, _ = up_detached(spec, ctx.spec_path, target, ctx.progress)
    ctx.outputs[target] = outputs
    return {"outputs": outputs.public_view(), "seconds": round(time.monotonic() - started, 2)}


def _restarted(spec: ServiceSpec) -> list[str]:
    """The running processes marked ``restart_after_promotion``."""
    return [name for name, proc in spec.processes.items() if proc.restart_after_promotion and proc.replicas]


def _restart_verdict(spec: ServiceSpec, target: str) -> tuple[bool, str, str | None]:
    """Whether ``restart`` runs, why, and the warning to journal when it cannot although asked."""
    from providers.registry import hosting_adapter

    names = _restarted(spec)
    if not names:
        return False, "no process is marked restart_after_promotion", None
    adapter = hosting_adapter(spec.target(target).provider)
    if not adapter.supports.restart_processes:
        line = adapter.unsupported("restart_processes", target)
        return False, line, f"warning: {', '.join(names)} not restarted: {line}"
    return True, f"restarting {', '.join(names)} on {target}", None


def describe_restart_wanted(ctx: StepContext, target: str) -> dict[str, Any]:
    holds, detail, warning = _restart_verdict(spec_of(ctx), target)
    return {"holds": holds, "detail": detail, **({"warning": warning} if warning else {})}


@action("target.restart_wanted", describe=describe_restart_wanted)
def target_restart_wanted(ctx: StepContext, target: str) -> tuple[bool, str]:
    """Precondition of ``restart``: some process of the spec asks to be restarted after a
    promotion, and ``target``'s adapter can (else a warning says what to do by hand)."""
    holds, detail, warning = _restart_verdict(spec_of(ctx), target)
    if warning:
        ctx.log(warning)
    return holds, detail


def describe_restart(ctx: StepContext, target: str) -> dict[str, Any]:
    spec = spec_of(ctx)
    return {"target": where(spec, target), "restarts": _restarted(spec)}


@action("target.restart_processes", describe=describe_restart)
def target_restart_processes(ctx: StepContext, target: str) -> dict[str, Any]:
    """Restart the processes marked ``restart_after_promotion`` through the engine: a new
    restart generation (this run's id, so a resumed step restarts nothing twice), then ``up``."""
    from migrate.engine.stack import set_restart_generation

    spec = spec_of(ctx)
    bumped = set_restart_generation(spec, target, ctx.run_id)
    result = target_up(ctx, target)
    return {**result, "generation": ctx.run_id, "bumped": bumped}


def engine_progress(ctx: StepContext, target: str) -> Callable[[Any], None]:
    """One line per resource the engine finished (or failed), not the raw event stream."""
    from migrate.engine.detached import event_line

    def on_event(event: Any) -> None:
        line = event_line(event, target)
        if line:
            ctx.progress(line)

    return on_event


def deployed_before(ctx: StepContext, target: str) -> bool:
    """Whether ``target`` had a deployed stack before this run: the pre-flight's record if it
    made one, else asked of the state backend now."""
    known = ctx.results.get("preflight", {}).get("deployed_before", {})
    if target in known:
        return bool(known[target])
    from migrate.engine.stack_outputs import load_outputs
    from migrate.errors import NotDeployedError

    try:
        load_outputs(spec_of(ctx), target)
    except NotDeployedError:
        return False
    except MigrateError:  # cannot tell: count it as deployed, so this run never destroys it
        return True
    return True


def created_by_run(ctx: StepContext, target: str) -> bool:
    """The journal says this run created ``target``'s stack (so it may destroy it)."""
    return any(e.get("created_stack") == target for e in ctx.journal.entries() if e.get("event") == "log")


def record_creation(ctx: StepContext, target: str) -> None:
    """Before the first ``up`` of a stack this run creates, say so in the journal, durably:
    teardown and rollbacks destroy only the stacks recorded here."""
    if not created_by_run(ctx, target) and not deployed_before(ctx, target):
        ctx.log(f"{target} was not deployed before this run: this run creates its stack", created_stack=target)


@action("target.destroy_created")
def target_destroy_created(ctx: StepContext, target: str) -> dict[str, Any]:
    """Destroy ``target`` only if the journal says this run created it; else leave it as found."""
    if not created_by_run(ctx, target):
        ctx.log(f"{target} was deployed before this run: left as found, not destroyed")
        return {"kept": target}
    return target_destroy(ctx, target)


@action("target.destroy")
def target_destroy(ctx: StepContext, target: str) -> dict[str, Any]:
    from migrate.engine.stack import destroy

    spec = spec_of(ctx)
    ctx.outputs.pop(target, None)
    destroy(spec, target)
    return {"destroyed": target}


# -- data ---------------------------------------------------------------------------------------------
def admin_url(out: TargetOutputs) -> str | None:
    """A target's superuser URL, if its stack exports one (subscriptions need it on PG 15 at the
    destination; synchronous replication at the source)."""
    return out.database_admin_url.get_secret_value() if out.database_admin_url is not None else None


def data_progress(ctx: StepContext) -> Callable[[Any], None]:
    """Data-move progress as step lines: the notes (phase changes), not every object."""

    def progress(update: Any) -> None:
        if getattr(update, "note", None):
            ctx.progress(f"{update.task}: {update.note}")

    return progress


def check_verified(ctx: StepContext, what: str, result: SyncResult) -> None:
    """A move whose verification found differences fails its step, naming the first few; what
    the destination cannot hold (``not_carried``) is journaled, a line each, either way."""
    for line in result.verify.not_carried if result.verify is not None else []:
        ctx.log(f"{what}: not carried: {line}")
    if not result.ok and result.verify is not None:
        found = result.verify.mismatches
        detail = "; ".join(m.describe() for m in found[:5]) + (f" (+{len(found) - 5} more)" if len(found) > 5 else "")
        raise MigrateError(f"{what}: the data on the destination does not match: {detail}")


def describe_data_move(ctx: PlanContext, source: str, dest: str, backup: str | None = None) -> dict[str, Any]:
    """The route the move would take, by the same order as the move: what the earlier steps
    of the run do (a replication, a termination, a backup), else what answers now."""
    spec = spec_of(ctx)
    backup = backup or ctx.plans.get("backup", {}).get("location")
    plan: dict[str, Any] = {
        "order": f"promote the replica if replication is active, else copy from a live {source}, "
        "else restore the backup",
        "backup": backup or None,
    }
    replicating = planned_by(ctx, "replicates", f"{source} → {dest}")
    terminating = planned_by(ctx, "terminates", source)
    if replicating is not None and spec.postgres is not None:
        return {**plan, "route": "promote", "because": f"step {replicating} replicates {source} → {dest}"}
    if terminating is not None:
        answers, detail = False, f"step {terminating} terminates {source}"
    elif known_outputs(ctx, source) is None:
        answers, detail = False, f"{source} is not deployed"
    else:
        answers, detail = target_healthy(ctx, source)
    if answers:
        note = f" (or promote, if replication {source} → {dest} is active then)" if spec.postgres else ""
        return {**plan, "route": "sync" + note, "because": f"{source} answers: {detail}"}
    if backup:
        return {**plan, "route": "restore", "because": f"{detail}: restoring {backup}"}
    return {**plan, "route": "none: the step fails", "because": f"{detail}, and no --backup LOCATION was given"}


@action("data.move", describe=describe_data_move)
def data_move(ctx: StepContext, source: str, dest: str, backup: str | None = None) -> dict[str, Any]:
    """Get B's data current by the best route still open: promote a replica, copy from a live A,
    or restore the latest backup (A gone). The journal records which route was taken.

    Re-runnable: a resumed run repeats the whole move (restores replace what is there)."""
    try:
        return _move_data(ctx, source, dest, backup)
    except MigrateError as exc:
        healthy, detail = target_healthy(ctx, dest)
        if healthy:
            raise
        raise MigrateError(
            f"{exc} — {dest} itself is down ({detail}): bring it back with "
            f"`migrate up --to {dest}`, then `migrate failover --resume` repeats this step"
        ) from None


def _move_data(ctx: StepContext, source: str, dest: str, backup: str | None) -> dict[str, Any]:
    from contextlib import ExitStack

    with ExitStack() as reached:  # the adapters' ways in (SSH tunnels), open for this step only
        return _move_data_reached(ctx, source, dest, backup, reached)


def _move_data_reached(
    ctx: StepContext, source: str, dest: str, backup: str | None, reached: ExitStack
) -> dict[str, Any]:
    from migrate.data import replication
    from migrate.data.move import sync
    from migrate.data.reach import reach

    spec = spec_of(ctx)
    backup = backup or ctx.results.get("backup", {}).get("location")  # one taken earlier in this run
    b = reach(spec, outputs_of(ctx, dest), reached)
    admin = admin_url(b)
    try:
        a: TargetOutputs | None = reach(spec, outputs_of(ctx, source), reached)
    except MigrateError:
        a = None  # gone, or its way in is (an SSH host that does not answer)
    if a is not None and spec.postgres is not None:
        state = replication.status(spec, a, b, admin_url=admin)
        if state.state in ("streaming", "initializing", "disabled"):
            ctx.log(
                f"replication {source} → {dest} is {state.state} "
                f"({'source reachable' if state.source_reachable else 'source unreachable'}): promoting {dest}"
            )
            promoted = replication.promote(spec, a, b, admin_url=admin, source_admin_url=admin_url(a))
            if not promoted.ok or promoted.state != "promoted":
                raise MigrateError(f"promoting {dest} failed: {promoted.describe()}")
            return {"route": "promote", "replication": promoted.to_json()}
    if a is not None and target_healthy(ctx, source)[0]:
        ctx.log(f"{source} still answers: copying its data to {dest}")
        result = sync(spec, a, b, admin_url=admin, progress=data_progress(ctx))
        check_verified(ctx, f"copy {source} → {dest}", result)
        return {"route": "sync", "result": result.to_json()}
    if backup:
        from migrate.data.locations import parse_location

        ctx.log(f"{source} is gone: restoring the latest backup from {backup} (database and media at once)")
        result = restore_both_at_once(ctx, spec, parse_location(backup), b, admin)
        check_verified(ctx, f"restore {backup} → {dest}", result)
        return {"route": "restore", "location": backup, "result": result.to_json()}
    raise MigrateError(
        f"no way to get the data onto {dest}: {source} does not answer, no replication is active, "
        "and no --backup LOCATION was given"
    )


def restore_both_at_once(
    ctx: StepContext, spec: ServiceSpec, location: Any, dest: TargetOutputs, admin: str | None
) -> SyncResult:
    """The cold route's restore: the database (download + ``pg_restore -j``) and the media
    objects need nothing of each other, so they run at the same time; the step takes as long
    as the slower of the two, not their sum. One result, verified as one restore."""
    from concurrent.futures import ThreadPoolExecutor

    from migrate.data.comparison import VerifyReport
    from migrate.data.move import SyncResult, restore

    started = time.monotonic()
    with ThreadPoolExecutor(2, thread_name_prefix="restore") as pool:
        database = pool.submit(
            restore, spec, location, dest, media_too=False, admin_url=admin, progress=data_progress(ctx)
        )
        objects = pool.submit(
            restore, spec, location, dest, postgres=False, admin_url=admin, progress=data_progress(ctx)
        )
        parts = [database.result(), objects.result()]
    merged = SyncResult(parts[0].source, parts[0].dest, backup_id=parts[0].backup_id)
    merged.postgres, merged.media = parts[0].postgres, parts[1].media
    merged.verify = VerifyReport()
    for part in parts:
        if part.verify is not None:
            merged.verify.extend(part.verify)
    merged.seconds = time.monotonic() - started
    ctx.log(f"restored in {merged.seconds:.2f}s: database {parts[0].seconds:.2f}s beside media {parts[1].seconds:.2f}s")
    return merged


@action("data.ready")
def data_ready(ctx: StepContext, target: str) -> tuple[bool, str]:
    from contextlib import ExitStack

    import psycopg

    from migrate.data.reach import reach

    if outputs_of(ctx, target).database_url is None:
        return True, f"{target} has no database"
    try:
        with ExitStack() as reached:  # through the adapter's way in (an SSH tunnel), if it has one
            out = reach(ctx.spec, outputs_of(ctx, target), reached)
            assert out.database_url is not None
            with psycopg.connect(out.database_url.get_secret_value(), connect_timeout=5) as conn:
                tables = conn.execute(
                    "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
                ).fetchone()
    except psycopg.Error as exc:
        return False, f"{target}'s database does not answer: {type(exc).__name__}"
    except MigrateError as exc:
        return False, f"{target}'s database cannot be reached: {exc}"
    count = tables[0] if tables else 0
    return count > 0, f"{target}'s database answers with {count} tables"


def _plain(value: Any) -> Any:
    if hasattr(value, "to_json"):
        return value.to_json()
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if hasattr(value, "__dataclass_fields__"):
        import dataclasses

        return dataclasses.asdict(value)
    return value


# -- smoke ---------------------------------------------------------------------------------------------
def _smoke_checks(spec: ServiceSpec) -> list[HttpCheck]:
    """The spec's smoke checks; by default its health path and / answer 200."""
    return spec.smoke or [HttpCheck(path=spec.public_process()[1].health_path), HttpCheck(path="/")]


def describe_smoke(ctx: StepContext, target: str, timeout: float = 60.0) -> dict[str, Any]:
    spec = spec_of(ctx)
    out = known_outputs(ctx, target)
    checks = _smoke_checks(spec)
    return {
        "front": f"http://{out.public_addresses[0]}:{out.http_port}" if out else f"{target}'s front, once deployed",
        "host": spec.service.domain,
        "checks": [f"{c.path} answers {' or '.join(str(s) for s in c.status)}" for c in checks],
        "within": f"{timeout:g}s",
    }


@action("smoke.check", describe=describe_smoke)
def smoke_check(ctx: StepContext, target: str, timeout: float = 60.0) -> dict[str, Any]:
    """B answers the spec's smoke paths with their expected statuses, directly (before DNS points
    at it), sent with the service's Host header. Default: its health path and / answer 200."""
    import httpx

    spec = spec_of(ctx)
    out = outputs_of(ctx, target)
    front = f"http://{out.public_addresses[0]}:{out.http_port}"
    checks = _smoke_checks(spec)
    deadline = time.monotonic() + timeout
    while True:
        answers: list[tuple[bool, str]] = []
        for check in checks:
            url = front + check.path
            try:
                response = httpx.get(url, headers={"Host": spec.service.domain}, timeout=3.0)
            except httpx.HTTPError as exc:
                answers.append((False, f"{check.path}: {type(exc).__name__}"))
                continue
            if response.headers.get("x-migrate-holding") == "1":
                answers.append((False, f"{check.path}: the holding page answers, not the service"))
                continue
            answers.append((response.status_code in check.status, f"{check.path}: HTTP {response.status_code}"))
        if all(ok for ok, _ in answers):
            return {"checks": [detail for _, detail in answers]}
        if time.monotonic() > deadline:
            failed = "; ".join(
                f"{detail} (expected {c.status})" for c, (ok, detail) in zip(checks, answers, strict=True) if not ok
            )
            raise MigrateError(f"{target} fails its smoke check: {failed}")
        time.sleep(0.5)


# -- DNS -------------------------------------------------------------------------------------------------
def describe_swing(ctx: PlanContext, target: str) -> dict[str, Any]:
    from migrate.dns.desired import owned_keys

    spec = spec_of(ctx)
    out = known_outputs(ctx, target)
    deploying = planned_by(ctx, "deploys", target)
    if out is not None:
        addresses = ", ".join(out.public_addresses)
    elif deploying is not None:
        addresses = f"{target}'s addresses, once step {deploying} has deployed it"
    else:
        addresses = f"unknown: {target} is not deployed"
    return {
        "records": [f"{name} {rdtype}" for name, rdtype in owned_keys(spec)],
        "dns providers": list(spec.dns.providers),
        "points at": addresses,
        "ttl": f"{spec.dns.ttl}s",
    }


@action("dns.swing", describe=describe_swing)
def dns_swing(ctx: StepContext, target: str) -> dict[str, Any]:
    """Point the owned records at ``target`` at every provider (re-running finishes a partial swing).

    A failure always says what each provider serves now, read back from it: an earlier attempt
    may have changed some providers, and they must never be left different without saying so.
    """
    from migrate.dns import saved_plan
    from migrate.dns.desired import desired_rrsets, owned_keys
    from migrate.dns.swing import plan, swing

    spec = spec_of(ctx)
    try:
        outputs = outputs_of(ctx, target)
        desired, owned = desired_rrsets(spec, outputs), owned_keys(spec)
        planned = plan(spec, outputs, wanted=(desired, owned))
        unreadable = [f"{p.provider}: {p.error}" for p in planned.providers if p.error]
        if unreadable:
            raise MigrateError("cannot read the zone at " + "; ".join(unreadable) + " — nothing was changed")
        plans = [p.plan for p in planned.providers if p.plan is not None]
        saved = saved_plan.from_plans(spec.zone, outputs.target, outputs.health_url, owned, desired, plans)
        plan_file = ctx.run_dir / f"dns-plan-{target}.json"
        saved_plan.write(saved, plan_file)
        # The exact change set this step applies, journaled before it is applied.
        ctx.log(
            f"DNS plan: {planned.changes} change(s) to {target}",
            plan_file=str(plan_file),
            fingerprints={p.provider: p.fingerprint for p in saved.providers},
            changes={p.provider: len(p.changes) for p in saved.providers},
        )
        result = swing(spec, None, saved=saved, known_outputs=list(ctx.outputs.values()))
    except MigrateError as exc:
        raise MigrateError(f"DNS swing to {target} failed: {exc}; {_served_now(ctx, target)}") from None
    document = result.to_json()
    if not result.ok:
        failed = [p.provider for p in result.providers if p.error]
        raise MigrateError(
            f"DNS swing to {target} incomplete: {', '.join(failed)} did not take the change ("
            + "; ".join(f"{p.provider}: {p.error}" for p in result.providers if p.error)
            + f"); {_served_now(ctx, target)}"
        )
    return document


def _served_now(ctx: StepContext, target: str) -> str:
    """Each provider's records as read back now: which target they point at, or why unreadable."""
    from migrate.dns.swing import status

    states = status(spec_of(ctx), known_outputs=list(ctx.outputs.values()))
    points = {s.points_at for s in states if s.error is None}
    parts = [
        f"{s.provider} cannot be read ({s.error})"
        if s.error
        else f"{s.provider} points at {s.points_at or 'something else'}"
        for s in states
    ]
    if len(points) > 1:
        verdict = "providers DIFFER"
    elif any(s.error for s in states):
        verdict = "not every provider can be read"
    else:
        verdict = "providers agree"
    return (
        f"{verdict}: "
        + ", ".join(parts)
        + f" — fix the cause, then re-run the swing (migrate failover --resume) to point all at {target}, "
        "or migrate failover --rollback"
    )


@action("dns.rollback")
def dns_rollback(ctx: StepContext) -> dict[str, Any]:
    from migrate.dns.swing import rollback

    result = rollback(spec_of(ctx))
    if not result.ok:
        raise MigrateError(
            "DNS rollback incomplete: " + "; ".join(f"{p.provider}: {p.error}" for p in result.providers if p.error)
        )
    return result.to_json()


def describe_verify(ctx: StepContext, target: str, timeout: float = 60.0) -> dict[str, Any]:
    from migrate.dns.swing import providers_for

    spec = spec_of(ctx)
    return {
        "nameservers": [
            *spec.dns.nameservers,
            *(f"{p.name} ({', '.join(p.nameservers())})" for p in providers_for(spec)),
            "every nameserver the zone's NS records name",
        ],
        "expects": f"{target}'s addresses for every owned record",
        "within": f"{timeout:g}s",
    }


@action("dns.verify", describe=describe_verify)
def dns_verify(ctx: StepContext, target: str, timeout: float = 60.0) -> dict[str, Any]:
    """Every authoritative nameserver answers every owned record with ``target``'s addresses."""
    from migrate.dns.verify import verify

    spec = spec_of(ctx)
    out = outputs_of(ctx, target)
    result = verify(
        spec, outputs=out, timeout=timeout, progress=lambda what, done, total: ctx.progress(f"{what}: {done}/{total}")
    )
    document = result.to_json()
    if not result.ok:
        wrong = [f"{s.server.where}: {s.error or '; '.join(s.mismatches[:3])}" for s in result.servers if not s.ok]
        raise MigrateError(
            f"after {timeout:.0f}s not every authoritative nameserver serves {target}'s records: "
            + ("; ".join(wrong) or "no nameserver found")
        )
    return document
