"""The ``preflight.run`` runbook step: the audit's pre-flight for the target being left.

Anything a failover needs that lives only at the provider being left is already gone; the
step finds out before anything changes (checks in ``migrate.audit``), including what the run
will ask of each target's adapter (terminate, holding page, superuser URL). A drill also
refuses targets deployed before it started: it creates and destroys throwaway stacks only.
The step records which targets were deployed before the run; teardown and rollbacks destroy
only what this run created.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from migrate.errors import MigrateError
from migrate.runbook.registry import action

if TYPE_CHECKING:
    from migrate.runbook.runner import StepContext


def _deployed(ctx: StepContext, target: str) -> bool:
    from migrate.engine.stack_outputs import load_outputs
    from migrate.errors import NotDeployedError
    from migrate.failover.actions import spec_of

    try:
        load_outputs(spec_of(ctx), target)
    except NotDeployedError:
        return False
    except MigrateError as exc:  # cannot tell: count it as deployed, so nothing of it is destroyed
        ctx.log(f"could not tell whether {target} is deployed ({exc}); it will not be destroyed by this run")
    return True


@action("preflight.run")
def run(
    ctx: StepContext,
    source: str,
    dest: str,
    backup: str | None = None,
    drill: bool = False,
    data_mode: str = "",
    synchronous: bool = True,
) -> dict[str, Any]:
    from migrate.audit.checks import preflight
    from migrate.audit.findings import Severity
    from migrate.failover.actions import spec_of

    spec = spec_of(ctx)
    report = preflight(
        spec, source, dest, backup or None, drill, data_mode=str(data_mode), synchronous=_true(synchronous)
    )
    for finding in report.all():
        if finding.severity is not Severity.OK:
            ctx.log(f"{finding.area}: {finding.severity}: {finding.message}")
    problems = [f"{f.area}: {f.message}" for f in report.blocking]
    deployed = {target: _deployed(ctx, target) for target in dict.fromkeys((source, dest))}
    if drill:
        problems += [
            f"{target} is already deployed: a drill creates and destroys throwaway stacks of its own; "
            f"drill between targets that are not deployed, or remove it first (migrate destroy --target {target})"
            for target, up in deployed.items()
            if up
        ]
    if problems:
        raise MigrateError("pre-flight: " + "; ".join(problems))
    return {"findings": [f.as_dict() for f in report.all()], "deployed_before": deployed}


def _true(value: Any) -> bool:
    return value if isinstance(value, bool) else str(value).strip().lower() in ("1", "true", "yes", "on")
