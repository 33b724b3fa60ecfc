"""The ``preflight.run`` runbook step: the audit's pre-flight for the target being left.

Anything a failover needs that lives only at the provider being left is already gone; the
step finds out before anything changes (checks in ``migrate.audit``), including what the run
will ask of each target's adapter (terminate, holding page, superuser URL). A drill also
refuses targets deployed before it started: it creates and destroys throwaway stacks only.
The step records which targets were deployed before the run; teardown and rollbacks destroy
only what this run created. Its describer gives ``--dry-run`` the same findings and verdict.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from migrate.errors import MigrateError
from migrate.runbook.registry import action

if TYPE_CHECKING:
    from migrate.audit.findings import Report
    from migrate.runbook.runner import StepContext


def _deployed(ctx: StepContext, target: str) -> tuple[bool, str]:
    """Whether ``target`` is deployed, and why not sure when that cannot be told (it counts as
    deployed then, so nothing of it is destroyed)."""
    from migrate.engine.stack_outputs import load_outputs
    from migrate.errors import NotDeployedError
    from migrate.failover.actions import spec_of

    try:
        load_outputs(spec_of(ctx), target)
    except NotDeployedError:
        return False, ""
    except MigrateError as exc:
        return True, f"could not tell whether {target} is deployed ({exc}); it will not be destroyed by this run"
    return True, ""


@dataclass
class _Verdict:
    report: Report
    problems: list[str]  # what stops the run
    deployed: dict[str, bool]
    notes: list[str]


def _check(ctx: StepContext, source: str, dest: str, options: dict[str, Any]) -> _Verdict:
    """The audit's pre-flight and what the run would refuse; ``options``: the step's other
    arguments (backup, drill, data_mode, synchronous)."""
    from migrate.audit.checks import preflight
    from migrate.failover.actions import spec_of

    drill = bool(options.get("drill", False))
    report = preflight(
        spec_of(ctx),
        source,
        dest,
        options.get("backup") or None,
        drill,
        data_mode=str(options.get("data_mode", "")),
        synchronous=_true(options.get("synchronous", True)),
    )
    problems = [f"{f.area}: {f.message}" for f in report.blocking]
    found = {target: _deployed(ctx, target) for target in dict.fromkeys((source, dest))}
    deployed = {target: up for target, (up, _) in found.items()}
    if drill:
        problems += [
            f"{target} is already deployed: a drill creates and destroys throwaway stacks of its own; "
            f"drill between targets that are not deployed, or remove it first (migrate destroy --target {target})"
            for target, up in deployed.items()
            if up
        ]
    return _Verdict(report, problems, deployed, [note for _, note in found.values() if note])


def describe(ctx: StepContext, source: str, dest: str, **options: Any) -> dict[str, Any]:
    from migrate.failover.actions import spec_of

    recovery = spec_of(ctx).recovery
    verdict = _check(ctx, source, dest, options)
    return {
        "findings": [f"{f.severity} {f.area}: {f.message}" for f in verdict.report.all()],
        "stops the run": verdict.problems,
        "deployed now": verdict.deployed,
        "notes": verdict.notes,
        "recovery goal": f"RTO {recovery.rto_seconds}s, RPO {recovery.rpo_seconds}s",
    }


@action("preflight.run", describe=describe)
def run(
    ctx: StepContext,
    source: str,
    dest: str,
    backup: str | None = None,
    drill: bool = False,
    data_mode: str = "",
    synchronous: bool = True,
) -> dict[str, Any]:
    from migrate.audit.findings import Severity

    options = {"backup": backup, "drill": drill, "data_mode": data_mode, "synchronous": synchronous}
    verdict = _check(ctx, source, dest, options)
    for finding in verdict.report.all():
        if finding.severity is not Severity.OK:
            ctx.log(f"{finding.area}: {finding.severity}: {finding.message}")
    for note in verdict.notes:
        ctx.log(note)
    if verdict.problems:
        raise MigrateError("pre-flight: " + "; ".join(verdict.problems))
    return {"findings": [f.as_dict() for f in verdict.report.all()], "deployed_before": verdict.deployed}


def _true(value: Any) -> bool:
    return value if isinstance(value, bool) else str(value).strip().lower() in ("1", "true", "yes", "on")
