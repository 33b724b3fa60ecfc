"""The warm path: send users to a standby that is already current, converge with the engine after.

A full Pulumi converge of a standby that is deployed, healthy and replicating was most of a
failover's recovery time. ``target.current`` proves cheaply that it would change nothing: the
stack's fingerprint (``migrate.engine.fingerprint``: spec, secrets, program, backend, engine
version, recorded by the last successful ``up``) equals the one computed now, and the target
answers its health URL and its front page directly. The runbooks then skip ``provision``
(precondition ``target.stale``), promote, swing and verify, and run ``target.up`` afterwards
(precondition ``target.was_current``, ``on_failure: report``): its failure is reported but
does not undo a failover that works. When the standby is not current, ``provision`` runs
before anything else touches it, as before. For ``--dry-run``, ``describe_current`` reads
only the record of the last update.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from migrate.errors import MigrateError
from migrate.failover.actions import http_ok, outputs_of, spec_of
from migrate.runbook.registry import action

if TYPE_CHECKING:
    from migrate.runbook.dry_run import PlanContext
    from migrate.runbook.runner import StepContext

STANDBY_STEP = "standby"  # the step whose verdict the provision and converge steps read


def describe_current(ctx: StepContext, target: str) -> dict[str, Any]:
    """The verdict as far as the record of the last update tells it (nothing is computed or run)."""
    from migrate.engine import fingerprint

    found = fingerprint.recorded(spec_of(ctx), target)
    if found is None:
        return {"path": "cold", "because": f"{target} has no record of a finished update: provision runs"}
    age = time.time() - float(found.get("recorded_at", 0))
    return {
        "path": "warm, if its fingerprint still matches and it answers; else cold",
        "because": f"{target}'s last finished update was {age:.0f}s ago",
    }


@action("target.current", describe=describe_current)
def target_current(ctx: StepContext, target: str) -> dict[str, Any]:
    """Is ``target`` deployed from this very spec, program and engine, and does it answer?

    Never fails: a standby that is not current is the cold path, not an error. The verdict
    and its reason are journaled; the fingerprint is checked first (no network), then the
    health URL and the front page (the smoke checks, directly, before any user is sent).
    """
    from migrate.engine import fingerprint

    spec = spec_of(ctx)
    started = time.monotonic()

    def verdict(current: bool, detail: str) -> dict[str, Any]:
        route = "warm" if current else "cold"
        ctx.log(f"{route} path: {detail}")
        return {
            "current": current,
            "detail": detail,
            "seconds": round(time.monotonic() - started, 3),
            "figures": {"takeover_route": route},
        }

    try:
        same, detail = fingerprint.current(spec, target)
    except (MigrateError, OSError) as exc:
        return verdict(False, f"cannot compute {target}'s fingerprint: {exc}")
    if not same:
        return verdict(False, detail)
    fingerprinted = time.monotonic()
    try:
        out = outputs_of(ctx, target)
    except MigrateError as exc:
        return verdict(False, f"{target}'s outputs cannot be read: {exc}")
    read = time.monotonic() - fingerprinted
    ctx.log(f"fingerprint checked in {fingerprinted - started:.2f}s, outputs read in {read:.2f}s")
    health, health_detail = http_ok(out.health_url, host=spec.service.domain)
    if not health:
        return verdict(False, f"{detail}, but it is not healthy ({health_detail})")
    front, front_detail = http_ok(f"http://{out.public_addresses[0]}:{out.http_port}/", host=spec.service.domain)
    if not front:
        return verdict(False, f"{detail}, but its front page fails ({front_detail})")
    return verdict(True, f"{detail}; {health_detail}; {front_detail}")


def _standby_verdict(ctx: StepContext, step: str) -> dict[str, Any]:
    """The standby step's verdict; none (not in the runbook, not run) reads as "not current":
    a precondition that cannot tell must lead to provisioning, never to skipping it."""
    verdict = ctx.results.get(step) or {}
    if "current" not in verdict:
        return {"current": False, "detail": f"no verdict from step {step!r}: provisioning to be safe"}
    return verdict


def _planned_cold(ctx: PlanContext, step: str) -> bool:
    """In a dry run: the standby's plan already says cold (then provision runs, converge not);
    otherwise the verdict waits for the run."""
    return ctx.plans.get(step, {}).get("path") == "cold"


def describe_stale(ctx: PlanContext, target: str, step: str = STANDBY_STEP) -> dict[str, Any]:
    if not _planned_cold(ctx, step):
        return {}
    return {"holds": True, "detail": f"step {step} finds {target} not current"}


def describe_was_current(ctx: PlanContext, target: str, step: str = STANDBY_STEP) -> dict[str, Any]:
    if not _planned_cold(ctx, step):
        return {}
    return {"holds": False, "detail": f"{target} is provisioned before the swing"}


@action("target.stale", describe=describe_stale)
def target_stale(ctx: StepContext, target: str, step: str = STANDBY_STEP) -> tuple[bool, str]:
    """Precondition of ``provision``: the standby check found ``target`` not current."""
    verdict = _standby_verdict(ctx, step)
    if verdict.get("current"):
        return False, f"{target} is current, the engine converges it after the swing ({verdict.get('detail')})"
    return True, str(verdict.get("detail", ""))


@action("target.was_current", describe=describe_was_current)
def target_was_current(ctx: StepContext, target: str, step: str = STANDBY_STEP) -> tuple[bool, str]:
    """Precondition of ``converge``: the warm path was taken, so the engine has not run on ``target`` yet."""
    verdict = _standby_verdict(ctx, step)
    if verdict.get("current"):
        return True, f"{target} took over without the engine: converging it now"
    return False, f"{target} was provisioned before the swing"
