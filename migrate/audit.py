"""What in the spec would not survive the termination of a target's provider.

A provider that ends the account takes with it everything it operates: the app's
resources (expected: another target takes over), but also whatever else the spec
leans on there: the zone's nameservers, the only copies of the data or its backups,
and services with no equal elsewhere. The audit names these per target, from the
spec alone (no provider API), so they can be fixed before the day it matters.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from migrate.spec.model import ServiceSpec

# The company behind each DNS provider when the spec does not say (``operator:``).
DNS_COMPANIES = {
    "route53": "aws",
    "cloudflare": "cloudflare",
    "powerdns": "self",
    "rfc2136": "self",
}


class Severity(StrEnum):
    CRITICAL = "critical"  # the service cannot come back elsewhere without it
    WARNING = "warning"  # lost, or slower to recover, but there is a way round
    INFO = "info"  # worth knowing on the day


@dataclass(frozen=True)
class Finding:
    severity: Severity
    area: str
    message: str
    fix: str


@dataclass(frozen=True)
class TargetAudit:
    target: str
    provider: str
    operator: str
    findings: list[Finding]

    def worst(self) -> Severity | None:
        for level in (Severity.CRITICAL, Severity.WARNING, Severity.INFO):
            if any(f.severity is level for f in self.findings):
                return level
        return None

    def as_dict(self) -> dict[str, object]:
        return {
            "target": self.target,
            "provider": self.provider,
            "operator": self.operator,
            "findings": [{**asdict(f), "severity": f.severity.value} for f in self.findings],
        }


def target_operator(spec: ServiceSpec, target: str) -> str:
    from providers.registry import HOSTING_ADAPTERS, hosting_adapter

    settings = spec.targets[target]
    if settings.operator:
        return settings.operator
    if settings.provider in HOSTING_ADAPTERS:
        return hosting_adapter(settings.provider).company
    return settings.provider


def dns_operator(spec: ServiceSpec, name: str) -> str:
    settings = spec.dns_providers[name]
    if settings.operator:
        return settings.operator
    if getattr(settings, "sandbox", None):
        return "local"
    return DNS_COMPANIES.get(settings.provider, settings.provider)


def audit(spec: ServiceSpec, targets: list[str] | None = None) -> list[TargetAudit]:
    names = targets or list(spec.targets)
    for name in names:
        spec.target(name)  # unknown names are input errors
    return [audit_target(spec, name) for name in names]


def audit_target(spec: ServiceSpec, target: str) -> TargetAudit:
    settings = spec.targets[target]
    operator = target_operator(spec, target)
    findings: list[Finding] = []
    findings += _dns(spec, operator)
    findings += _data(spec, target, operator)
    findings += _provider_only(spec, target, operator)
    if operator == "self" and settings.provider in ("vps", "kubernetes"):
        findings.append(
            Finding(
                Severity.WARNING,
                "operator",
                f"{target} runs on machines of an unnamed company, so the audit cannot tell what "
                "else that company operates",
                f"set targets.{target}.operator to the company renting the hosts or the cluster",
            )
        )
    return TargetAudit(target, settings.provider, operator, findings)


def _dns(spec: ServiceSpec, operator: str) -> list[Finding]:
    zone = spec.zone
    same = [p for p in spec.dns.providers if dns_operator(spec, p) == operator]
    if not same:
        return []
    if len(same) == len(spec.dns.providers):
        return [
            Finding(
                Severity.CRITICAL,
                "dns",
                f"every DNS provider of {zone} ({', '.join(same)}) is run by {operator}: its "
                "termination takes the nameservers too, so no DNS swing can point users elsewhere",
                "add a DNS provider run by another company to dns.providers (and its NS records)",
            )
        ]
    return [
        Finding(
            Severity.WARNING,
            "dns",
            f"{', '.join(same)} (DNS for {zone}) is run by {operator}: after its termination the "
            "zone is served by the other providers only",
            "make sure the registrar lists the other providers' nameservers too",
        )
    ]


def _data(spec: ServiceSpec, target: str, operator: str) -> list[Finding]:
    findings: list[Finding] = []
    elsewhere = [t for t in spec.targets if t != target and target_operator(spec, t) != operator]
    kinds = [
        k
        for k, present in (
            ("Postgres data", spec.postgres is not None),
            ("media buckets", spec.media is not None),
        )
        if present
    ]
    if kinds and not elsewhere:
        findings.append(
            Finding(
                Severity.CRITICAL,
                "data",
                f"no other target is run by another company: when {target} is the active target, "
                f"its {' and '.join(kinds)} exist only at {operator}",
                "add a target at another company and keep it warm (migrate moves the data)",
            )
        )
    provider = spec.targets[target].provider
    if spec.postgres is not None and provider in ("aws", "digitalocean"):
        snapshot = " and final snapshot" if provider == "aws" else ""
        findings.append(
            Finding(
                Severity.WARNING,
                "backups",
                f"the managed database's automated backups{snapshot} "
                f"are kept by {operator} only and go with the account",
                "keep logical dumps or a replica at another company (migrate data copy)",
            )
        )
    if spec.postgres is not None and provider in ("hetzner", "vps", "kubernetes"):
        findings.append(
            Finding(
                Severity.WARNING,
                "backups",
                f"Postgres is self-run on {_whose(operator)} storage with no backup elsewhere",
                "schedule dumps to another company's object storage, or keep a replica elsewhere",
            )
        )
    return findings


def _whose(operator: str) -> str:
    return "the hosts'" if operator == "self" else f"{operator}'s"


def _provider_only(spec: ServiceSpec, target: str, operator: str) -> list[Finding]:
    provider = spec.targets[target].provider
    findings: list[Finding] = []
    apex = [r for r in spec.dns.records if r.name == "@" and r.value is None]
    if provider == "aws" and apex:
        route53_elsewhere = [
            p for p in spec.dns.providers if spec.dns_providers[p].provider != "route53"
        ]
        findings.append(
            Finding(
                Severity.WARNING if route53_elsewhere else Severity.INFO,
                "provider-only",
                "the ALB has no fixed address: the zone apex can follow it only through a Route53 "
                "ALIAS (other DNS providers need their own apex-CNAME flattening)",
                "keep the apex on a DNS provider that flattens CNAMEs, "
                "or front the ALB with fixed IPs",
            )
        )
    if provider == "aws" and getattr(spec.targets[target], "certificate_arn", None):
        findings.append(
            Finding(
                Severity.INFO,
                "provider-only",
                "the TLS certificate is an ACM certificate and cannot be exported",
                "the other targets must have their own certificates ready",
            )
        )
    if provider == "digitalocean" and spec.redis is not None:
        findings.append(
            Finding(
                Severity.INFO,
                "provider-only",
                "DigitalOcean serves Redis as Valkey 8; Redis-only commands or modules "
                "will not survive a "
                "move back and forth unnoticed",
                "test the app against Valkey and Redis both",
            )
        )
    if provider == "hetzner":
        findings.append(
            Finding(
                Severity.INFO,
                "provider-only",
                "Hetzner keeps the app's secrets in servers' user data (cloud-init)",
                "rotate the spec's secrets after the account ends",
            )
        )
    if provider == "aws" and spec.secrets:
        findings.append(
            Finding(
                Severity.INFO,
                "secrets",
                "the app's secrets are copied into AWS Secrets Manager; "
                "the spec's sources stay with "
                "you, so nothing is lost, but rotate them after the account ends",
                "rotate secrets after a termination",
            )
        )
    return findings
