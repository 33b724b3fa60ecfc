"""What a failover or drill would do, for ``--dry-run``: targets, DNS, data route, pre-flight."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from migrate.spec.model import ServiceSpec


def failover_plan(spec: ServiceSpec, params: dict[str, Any], drill: bool = False) -> dict[str, Any]:
    from migrate.audit.checks import preflight
    from migrate.dns.desired import owned_keys
    from migrate.dns.swing import providers_for

    source, dest = params["from"], params["to"]
    a, b = spec.target(source), spec.target(dest)

    def where(name: str, settings: Any) -> str:
        address = getattr(settings, "address", None)
        return f"{name} ({settings.provider}{', ' + address if address else ''})"

    plan: dict[str, Any] = {
        "from": where(source, a),
        "to": where(dest, b),
        "records": [f"{name} {rdtype}" for name, rdtype in owned_keys(spec)],
        "dns providers": ", ".join(spec.dns.providers),
        "verified at": ", ".join(
            [*spec.dns.nameservers, *(f"{p.name} ({', '.join(p.nameservers())})" for p in providers_for(spec))]
        )
        + " and every nameserver the zone's NS records name",
        "ttl": f"{spec.dns.ttl}s",
        "recovery goal": f"RTO {spec.recovery.rto_seconds}s, RPO {spec.recovery.rpo_seconds}s",
    }
    if drill:
        plan["data"] = params.get("data_mode")
        plan["load"] = f"{params.get('rate')} writes/s for {params.get('load_seconds')}s before {source} is killed"
    else:
        plan["data"] = (
            "promote the replica if replication is active, else copy from a live "
            f"{source}, else restore {params.get('backup') or '(no --backup given)'}"
        )
    report = preflight(spec, source, dest, params.get("backup") or None, drill)
    plan["pre-flight"] = [f"{f.severity} {f.area}: {f.message}" for f in report.all()]
    return plan
