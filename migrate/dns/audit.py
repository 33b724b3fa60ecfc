"""DNS audit findings: single points of termination and TTLs too long for the recovery goal."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from migrate.spec.model import ServiceSpec


@dataclass(frozen=True)
class Finding:
    code: str
    severity: str  # "high" | "medium" | "low"
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "severity": self.severity, "message": self.message}


DEFAULT_OPERATOR = {"route53": "aws", "cloudflare": "cloudflare"}


def dns_operator(settings: Any) -> str:
    """Who can switch this DNS provider off (``operator`` in the spec wins)."""
    if getattr(settings, "operator", None):
        return str(settings.operator)
    kind = settings.provider
    if kind in DEFAULT_OPERATOR:
        return DEFAULT_OPERATOR[kind]
    if kind == "rfc2136":
        return "local" if settings.sandbox else f"rfc2136:{settings.server}"
    if kind == "powerdns":
        return f"powerdns:{settings.api_url}"
    return str(kind)


def findings(spec: ServiceSpec) -> list[Finding]:
    """Static findings from the spec alone (no network)."""
    from providers.registry import HOSTING_ADAPTERS, hosting_adapter

    out: list[Finding] = []
    operators = {
        name: dns_operator(spec.dns_providers[name])
        for name in spec.dns.providers
        if name in spec.dns_providers
    }
    distinct = set(operators.values())
    if len(distinct) == 1:
        (only,) = distinct
        out.append(Finding(
            "dns-single-operator", "high",
            f"zone {spec.zone} is served only by {only} ({', '.join(operators)}): if {only} "
            f"cuts you off, the name stops resolving; add a secondary DNS provider run by "
            f"another company",
        ))
    for target, settings in spec.targets.items():
        if settings.provider not in HOSTING_ADAPTERS:
            continue
        company = settings.operator or hosting_adapter(settings.provider).company
        same = [n for n, op in operators.items() if op == company]
        if same and len(same) == len(operators):
            out.append(Finding(
                "dns-same-company-as-target", "high",
                f"target {target} and every DNS provider of {spec.zone} ({', '.join(same)}) are "
                f"run by {company}: one termination takes both the host and the way to move off it",
            ))
        elif same:
            out.append(Finding(
                "dns-same-company-as-target", "low",
                f"target {target} and DNS provider(s) {', '.join(same)} are both run by {company}",
            ))
    rto = spec.recovery.rto_seconds
    for record in spec.dns.records:
        ttl = record.ttl or spec.dns.ttl
        if ttl > rto:
            out.append(Finding(
                "dns-ttl-over-rto", "medium",
                f"{record.name} {record.type} has TTL {ttl}s, longer than the recovery goal "
                f"recovery.rto_seconds={rto}s: resolvers may keep the old address past the goal",
            ))
    return out
