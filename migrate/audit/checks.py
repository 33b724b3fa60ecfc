"""Which checks each caller runs: the audit (every target, ahead of time) and the pre-flight
(the target being left, right before a failover or drill, blocking on what is critical)."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from migrate.audit import capabilities, data, dns, services, state
from migrate.audit.findings import Finding, Report, Severity, TargetAudit
from migrate.audit.operators import LOCAL, shared_fate, target_operator, unnamed_operator

if TYPE_CHECKING:
    from migrate.spec.model import ServiceSpec


def audit(spec: ServiceSpec, targets: list[str] | None = None, backup: str | None = None) -> Report:
    """What would not survive each target's provider ending the account (problems only)."""
    names = targets or list(spec.targets)
    for name in names:
        spec.target(name)  # unknown names are input errors
    zone = _problems([*dns.single_operator(spec), dns.ttl(spec)])
    audits = [
        _target(
            spec,
            name,
            _problems(
                [
                    dns.zone_with_target(spec, name),
                    state.state_backend(spec, name),
                    data.backup_location(spec, name, backup),
                    *data.only_there(spec, name),
                    *data.provider_backups(spec, name),
                    *services.provider_only(spec, name),
                    *unnamed_operator(spec, name),
                ]
            ),
        )
        for name in names
    ]
    critical = [f for f in [*zone, *(f for t in audits for f in t.findings)] if f.severity is Severity.CRITICAL]
    return Report(zone, audits, critical)


def preflight(
    spec: ServiceSpec,
    source: str,
    dest: str | None = None,
    backup: str | None = None,
    drill: bool = False,
    *,
    data_mode: str = "",
    synchronous: bool = True,
) -> Report:
    """State, latest backups and the DNS zone reachable off ``source``; TTLs low enough.

    Passing checks are kept, so the step shows what it verified. A drill brings its own
    backup or replica, so backups never block it. Leaving a sandbox target (run by ``local``)
    stops its processes, not this machine: the sandbox nameservers here stay up, so their
    sharing the machine is a warning, not a block.
    """
    spec.target(source)
    if dest is not None:
        spec.target(dest)
    found = [
        state.state_backend(spec, source),
        data.backup_location(spec, source, backup),
        dns.zone_with_target(spec, source),
        *(shared_fate(spec, source, dest) if dest else []),
        *capabilities.required(spec, source, dest, drill=drill, data_mode=data_mode, synchronous=synchronous),
    ]
    if target_operator(spec, source) == LOCAL:
        found = [_sandboxed(f) for f in found]
    zone = [dns.ttl(spec)]
    blocking = [f for f in [*zone, *found] if f.severity is Severity.CRITICAL and not (drill and f.area == "backups")]
    return Report(zone, [_target(spec, source, found)], blocking)


def _sandboxed(finding: Finding) -> Finding:
    if finding.area != "dns" or finding.severity is not Severity.CRITICAL:
        return finding
    return replace(
        finding,
        severity=Severity.WARNING,
        message=f"{finding.message} (in the sandbox a failover stops the target's processes; "
        "this machine and its nameservers stay up)",
    )


def _target(spec: ServiceSpec, name: str, findings: list[Finding]) -> TargetAudit:
    return TargetAudit(name, str(spec.targets[name].provider), target_operator(spec, name), findings)


def _problems(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity is not Severity.OK]
