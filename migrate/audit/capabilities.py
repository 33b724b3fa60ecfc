"""What a failover or drill will ask of each target's adapter, checked before step 1.

Each check reads the adapter's declared ``supports`` flags (never a provider's name) and,
where one is missing, says which capability and the way out in one line.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from migrate.audit.findings import Finding, Severity

if TYPE_CHECKING:
    from migrate.spec.model import ServiceSpec


def _lacks(spec: ServiceSpec, target: str, feature: str, severity: Severity) -> Finding:
    from providers.hosting import unsupported_line
    from providers.registry import hosting_adapter

    provider = spec.target(target).provider
    if getattr(hosting_adapter(provider).supports, feature):
        return Finding("capability", Severity.OK, f"{target} ({provider}) can do {feature!r}")
    return Finding("capability", severity, unsupported_line(provider, feature, target))


def required(
    spec: ServiceSpec,
    source: str,
    dest: str | None,
    *,
    drill: bool = False,
    data_mode: str = "",
    synchronous: bool = True,
) -> list[Finding]:
    """Blocking (critical) where the run would fail at a later step; warnings where a step is
    skipped or slower."""
    found = [_lacks(spec, source, "holding_page", Severity.WARNING)]
    if dest is not None and any(process.files for process in spec.processes.values()):
        found.append(_lacks(spec, dest, "config_files", Severity.CRITICAL))
    if dest is not None and spec.postgres is not None and spec.postgres.locale:
        found.append(_lacks(spec, dest, "database_locale", Severity.CRITICAL))
    if dest is not None and any(process.restart_after_promotion for process in spec.processes.values()):
        found.append(_lacks(spec, dest, "restart_processes", Severity.WARNING))
    if drill:
        found.append(_lacks(spec, source, "terminate", Severity.CRITICAL))
    if drill and data_mode == "replica" and spec.postgres is not None:
        if dest is not None and not os.environ.get("MIGRATE_TO_ADMIN_URL"):
            found.append(_lacks(spec, dest, "superuser_url", Severity.CRITICAL))
        if synchronous and not os.environ.get("MIGRATE_FROM_ADMIN_URL"):
            found.append(_lacks(spec, source, "superuser_url", Severity.CRITICAL))
    if drill and data_mode == "replica" and spec.media is not None:
        found.append(_lacks(spec, source, "bucket_events", Severity.INFO))
    return found
