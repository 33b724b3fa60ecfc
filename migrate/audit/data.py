"""Data findings: Postgres and media kept by one company only, and backups that go with it."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from migrate.audit import services
from migrate.audit.findings import Finding, Severity
from migrate.audit.operators import LOCAL, location_operator, same_operator, target_operator

if TYPE_CHECKING:
    from migrate.spec.model import ServiceSpec


def only_there(spec: ServiceSpec, target: str) -> list[Finding]:
    """When ``target`` is active and no other company hosts a target, its data exists once."""
    operator = target_operator(spec, target)
    elsewhere = [t for t in spec.targets if t != target and not same_operator(target_operator(spec, t), operator)]
    kinds = [
        k
        for k, present in (("Postgres data", spec.postgres is not None), ("media buckets", spec.media is not None))
        if present
    ]
    if not kinds or elsewhere:
        return []
    return [
        Finding(
            "data",
            Severity.CRITICAL,
            f"no other target is run by another company: when {target} is the active target, "
            f"its {' and '.join(kinds)} exist only at {operator}",
            "add a target at another company and keep it warm (migrate moves the data)",
        )
    ]


def provider_backups(spec: ServiceSpec, target: str) -> list[Finding]:
    """Backups the provider itself keeps (managed databases) or none at all (self-run): the
    adapter's ``audit_findings`` say which."""
    return [f for f in services.adapter_findings(spec, target) if f.area == "backups"]


def backup_location(spec: ServiceSpec, target: str, backup: str | None = None) -> Finding:
    """The latest backups (``--backup`` or ``MIGRATE_BACKUP``) must be off the provider being left."""
    if spec.postgres is None and spec.media is None:
        return Finding("backups", Severity.OK, "the service keeps no data")
    location = backup or os.environ.get("MIGRATE_BACKUP")
    if not location:
        return Finding(
            "backups",
            Severity.WARNING,
            f"no backup location given: if {target} is gone, only a running replica can save the data",
            "pass --backup LOCATION or set MIGRATE_BACKUP",
        )
    kept_by, leaving = location_operator(location), target_operator(spec, target)
    if leaving != LOCAL and same_operator(kept_by, leaving):
        return Finding(
            "backups",
            Severity.CRITICAL,
            f"backups at {location} are on {leaving}, the provider being left",
            "copy them to another company's storage now",
        )
    if kept_by == LOCAL and not os.path.exists(urlparse(location).path or location):
        return Finding(
            "backups",
            Severity.CRITICAL,
            f"backup location {location} does not exist",
            "give the directory or s3:// bucket the backups are written to",
        )
    return Finding("backups", Severity.OK, f"backups at {location}, off {target}")
