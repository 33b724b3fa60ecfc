"""Services only one provider offers: what the spec leans on that has no equal elsewhere."""

from __future__ import annotations

from typing import TYPE_CHECKING

from migrate.audit.findings import Finding, Severity

if TYPE_CHECKING:
    from migrate.spec.model import ServiceSpec


def provider_only(spec: ServiceSpec, target: str) -> list[Finding]:
    settings = spec.targets[target]
    provider = settings.provider
    findings: list[Finding] = []
    apex = [r for r in spec.dns.records if r.name == "@" and r.value is None]
    if provider == "aws" and apex:
        route53_elsewhere = [p for p in spec.dns.providers if spec.dns_providers[p].provider != "route53"]
        findings.append(
            Finding(
                "provider-only",
                Severity.WARNING if route53_elsewhere else Severity.INFO,
                "the ALB has no fixed address: the zone apex can follow it only through a Route53 "
                "ALIAS (other DNS providers need their own apex-CNAME flattening)",
                "keep the apex on a DNS provider that flattens CNAMEs, or front the ALB with fixed IPs",
            )
        )
    if provider == "aws" and getattr(settings, "certificate_arn", None):
        findings.append(
            Finding(
                "provider-only",
                Severity.INFO,
                "the TLS certificate is an ACM certificate and cannot be exported",
                "the other targets must have their own certificates ready",
            )
        )
    if provider == "digitalocean" and spec.redis is not None:
        findings.append(
            Finding(
                "provider-only",
                Severity.INFO,
                "DigitalOcean serves Redis as Valkey 8; Redis-only commands or modules "
                "will not survive a move back and forth unnoticed",
                "test the app against Valkey and Redis both",
            )
        )
    if provider == "hetzner":
        findings.append(
            Finding(
                "provider-only",
                Severity.INFO,
                "Hetzner keeps the app's secrets in servers' user data (cloud-init)",
                "rotate the spec's secrets after the account ends",
            )
        )
    if provider == "aws" and spec.secrets:
        findings.append(
            Finding(
                "secrets",
                Severity.INFO,
                "the app's secrets are copied into AWS Secrets Manager; the spec's sources "
                "stay with you, so nothing is lost, but rotate them after the account ends",
                "rotate secrets after a termination",
            )
        )
    return findings
