"""The ``preflight.run`` runbook step: the audit's pre-flight for the target being left.

Anything a failover needs that lives only at the provider being left is already gone; the
step finds out before anything changes (checks in ``migrate.audit``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from migrate.errors import MigrateError
from migrate.runbook.registry import action

if TYPE_CHECKING:
    from migrate.runbook.runner import StepContext


@action("preflight.run")
def run(ctx: StepContext, source: str, dest: str, backup: str | None = None, drill: bool = False) -> dict[str, Any]:
    from migrate.audit.checks import preflight
    from migrate.audit.findings import Severity
    from migrate.failover.actions import spec_of

    report = preflight(spec_of(ctx), source, dest, backup or None, drill)
    for finding in report.all():
        if finding.severity is not Severity.OK:
            ctx.log(f"{finding.area}: {finding.severity}: {finding.message}")
    if report.blocking:
        raise MigrateError("pre-flight: " + "; ".join(f"{f.area}: {f.message}" for f in report.blocking))
    return {"findings": [f.as_dict() for f in report.all()]}
