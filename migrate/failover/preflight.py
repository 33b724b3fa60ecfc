"""Pre-flight: what a failover needs must not live only at the provider being left.

State kept only in an S3 bucket of the provider that just terminated you is gone with it;
so are backups in its object storage and a zone served only by its DNS. And a TTL longer
than the recovery goal makes the goal impossible before anything starts. ``migrate audit``
reports the same findings ahead of time.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from migrate.errors import MigrateError
from migrate.runbook.registry import action

if TYPE_CHECKING:
    from migrate.runbook.engine import StepContext
    from migrate.spec.model import ServiceSpec

# Which company runs what: a DNS provider or an S3 endpoint of the same company as the target.
DNS_COMPANY = {"route53": "aws", "cloudflare": "cloudflare", "powerdns": None, "rfc2136": None}
S3_HOST_COMPANY = {"amazonaws.com": "aws", "digitaloceanspaces.com": "digitalocean",
                   "your-objectstorage.com": "hetzner"}


@dataclass
class Finding:
    check: str
    ok: bool
    severity: str  # error | warning
    detail: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _company(spec: ServiceSpec, target: str) -> str:
    return str(spec.target(target).provider)


def _url_company(url: str) -> str | None:
    parsed = urlparse(url)
    if parsed.scheme == "s3":
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or ""
        host = urlparse(endpoint).hostname or "amazonaws.com"
        return next((c for suffix, c in S3_HOST_COMPANY.items() if host.endswith(suffix)), "s3-compatible")
    if parsed.scheme in ("file", ""):
        return "local"
    if parsed.hostname:
        return next((c for suffix, c in S3_HOST_COMPANY.items() if parsed.hostname.endswith(suffix)), None)
    return None


def state_backend_finding(spec: ServiceSpec, source: str) -> Finding:
    url = os.environ.get("PULUMI_BACKEND_URL", "")
    where = url or "file:// under $MIGRATE_HOME (this machine)"
    company, leaving = _url_company(url), _company(spec, source)
    if company == leaving and leaving != "local":
        return Finding("state backend", False, "error",
                       f"Pulumi state is at {where}, on {leaving}, the provider being left: it goes with it. "
                       "Move it (pulumi stack export | import) to a backend elsewhere.")
    if company == "local" and leaving == "local":
        return Finding("state backend", True, "warning",
                       f"Pulumi state is at {where}; the sandbox host is this machine too (fine for a sandbox)")
    return Finding("state backend", True, "error", f"Pulumi state is at {where}, not on {leaving}")


def backup_finding(spec: ServiceSpec, source: str, backup: str | None) -> Finding:
    if spec.postgres is None and spec.media is None:
        return Finding("backups", True, "warning", "the service keeps no data")
    location = backup or os.environ.get("MIGRATE_BACKUP")
    leaving = _company(spec, source)
    if not location:
        return Finding("backups", False, "warning",
                       f"no backup location given (--backup or MIGRATE_BACKUP): if {source} is gone, only a "
                       "running replica can save the data")
    company = _url_company(location)
    if company == leaving and leaving != "local":
        return Finding("backups", False, "error", f"backups at {location} are on {leaving}, the provider being left")
    if company == "local" and not os.path.exists(urlparse(location).path or location):
        return Finding("backups", False, "error", f"backup location {location} does not exist")
    return Finding("backups", True, "error", f"backups at {location}, off {source}")


def dns_finding(spec: ServiceSpec, source: str) -> Finding:
    leaving = _company(spec, source)
    settings = spec.target(source)
    address = getattr(settings, "address", None)
    on_provider = []
    for name in spec.dns.providers:
        provider: Any = spec.dns_providers[name]
        company = DNS_COMPANY.get(provider.provider)
        if company == leaving or (address and getattr(provider, "server", None) == address):
            on_provider.append(name)
    if len(on_provider) == len(spec.dns.providers):
        return Finding("DNS zone", False, "error",
                       f"every DNS provider of {spec.zone} ({', '.join(on_provider)}) is on {leaving}: "
                       "add one elsewhere (dns.providers)")
    if on_provider:
        return Finding("DNS zone", True, "warning",
                       f"{', '.join(on_provider)} is on {leaving}; the others can still serve {spec.zone}")
    return Finding("DNS zone", True, "error",
                   f"{spec.zone} is served by {', '.join(spec.dns.providers)}, none on {leaving}")


def ttl_finding(spec: ServiceSpec) -> Finding:
    ttls = [r.ttl or spec.dns.ttl for r in spec.dns.records if r.value is None]
    worst, goal = max(ttls, default=spec.dns.ttl), spec.recovery.rto_seconds
    if worst >= goal:
        return Finding("TTL", False, "error",
                       f"TTL {worst}s is not below the recovery goal of {goal}s: clients would keep the dead "
                       "address longer than the whole goal; lower dns.ttl now, not during the outage")
    if worst > goal / 2:
        return Finding("TTL", True, "warning", f"TTL {worst}s uses more than half the recovery goal of {goal}s")
    return Finding("TTL", True, "error", f"TTL {worst}s leaves room in the recovery goal of {goal}s")


def findings_for(spec: ServiceSpec, source: str, dest: str | None = None, backup: str | None = None) -> list[Finding]:
    found = [state_backend_finding(spec, source), backup_finding(spec, source, backup),
             dns_finding(spec, source), ttl_finding(spec)]
    if dest is not None and _company(spec, dest) == _company(spec, source) and _company(spec, source) != "local":
        found.append(Finding("target", True, "warning",
                             f"{dest} is on {_company(spec, dest)} too: an outage of that provider takes both"))
    return found


@action("preflight.run")
def run(ctx: StepContext, source: str, dest: str, backup: str | None = None, drill: bool = False) -> dict[str, Any]:
    from migrate.failover.actions import spec_of

    found = findings_for(spec_of(ctx), source, dest, backup)
    for finding in found:
        if not finding.ok or finding.severity == "warning":
            ctx.log(f"{finding.check}: {finding.detail}")
    blocking = [f for f in found if not f.ok and f.severity == "error"
                and not (drill and f.check == "backups")]
    if blocking:
        raise MigrateError("pre-flight: " + "; ".join(f"{f.check}: {f.detail}" for f in blocking))
    return {"findings": [f.to_json() for f in found]}
