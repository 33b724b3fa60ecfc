"""DNS findings: a zone that goes down with a target's company, or with one DNS operator,
and TTLs too long for the recovery goal (clients keep the dead address that long)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from migrate.audit.findings import Finding, Severity
from migrate.audit.operators import dns_operator, same_operator, target_operator

if TYPE_CHECKING:
    from migrate.spec.model import ServiceSpec


def on_target(spec: ServiceSpec, target: str) -> list[str]:
    """The zone's DNS providers run by the target's company or served from its own address."""
    operator = target_operator(spec, target)
    address = getattr(spec.targets[target], "address", None)
    return [
        name
        for name in spec.dns.providers
        if same_operator(dns_operator(spec, name), operator)
        or (address is not None and getattr(spec.dns_providers[name], "server", None) == address)
    ]


def zone_with_target(spec: ServiceSpec, target: str) -> Finding:
    zone, operator, same = spec.zone, target_operator(spec, target), on_target(spec, target)
    if not same:
        return Finding(
            "dns", Severity.OK, f"{zone} is served by {', '.join(spec.dns.providers)}, none run by {operator}"
        )
    if len(same) == len(spec.dns.providers):
        return Finding(
            "dns",
            Severity.CRITICAL,
            f"every DNS provider of {zone} ({', '.join(same)}) is run by {operator}: its "
            "termination takes the nameservers too, so no DNS swing can point users elsewhere",
            "add a DNS provider run by another company to dns.providers (and its NS records)",
        )
    return Finding(
        "dns",
        Severity.WARNING,
        f"{', '.join(same)} (DNS for {zone}) is run by {operator}: after its termination the "
        "zone is served by the other providers only",
        "make sure the registrar lists the other providers' nameservers too",
    )


def single_operator(spec: ServiceSpec) -> list[Finding]:
    """A zone whose every nameserver one company can switch off (whoever hosts the app)."""
    operators = {dns_operator(spec, name) for name in spec.dns.providers}
    if len(operators) != 1 or (len(spec.dns.providers) > 1 and operators == {"self"}):
        return []
    (only,) = operators
    return [
        Finding(
            "dns",
            Severity.WARNING,
            f"{spec.zone} is served only by {only} ({', '.join(spec.dns.providers)}): if {only} "
            "cuts you off, the name stops resolving until the registrar's NS records change "
            "(hours to days)",
            "add a secondary DNS provider run by another company to dns.providers",
        )
    ]


def ttl(spec: ServiceSpec) -> Finding:
    """The longest TTL among records that follow the target, against the recovery goal."""
    followed = [(f"{r.name} {r.type}", r.ttl or spec.dns.ttl) for r in spec.dns.records if r.value is None]
    record, worst = max(followed, key=lambda pair: pair[1], default=("", spec.dns.ttl))
    goal, which = spec.recovery.rto_seconds, f" ({record})" if record else ""
    if worst >= goal:
        return Finding(
            "ttl",
            Severity.CRITICAL,
            f"TTL {worst}s{which} is not below the recovery goal of {goal}s: resolvers would keep "
            "the dead address longer than the whole goal",
            "lower dns.ttl (and records' ttl) now, not during the outage",
        )
    if worst > goal / 2:
        return Finding(
            "ttl",
            Severity.WARNING,
            f"TTL {worst}s{which} uses more than half the recovery goal of {goal}s",
            "lower dns.ttl to leave time for the rest of the failover",
        )
    return Finding("ttl", Severity.OK, f"TTL {worst}s leaves room in the recovery goal of {goal}s")
