"""Provider-specific findings: what the spec leans on that only the target's provider offers,
and what it keeps that goes with the account. Each adapter knows its own
(``HostingAdapter.audit_findings``); the audit only asks."""

from __future__ import annotations

from typing import TYPE_CHECKING

from migrate.audit.findings import Finding, Severity

if TYPE_CHECKING:
    from migrate.spec.model import ServiceSpec


def adapter_findings(spec: ServiceSpec, target: str) -> list[Finding]:
    from providers.registry import hosting_adapter

    settings = spec.targets[target]
    return [
        Finding(f.area, Severity(f.severity), f.message, f.fix)
        for f in hosting_adapter(settings.provider).audit_findings(spec, target, settings)
    ]


def provider_only(spec: ServiceSpec, target: str) -> list[Finding]:
    """The adapter's findings other than backups (those are ``data.provider_backups``)."""
    return [f for f in adapter_findings(spec, target) if f.area != "backups"]
