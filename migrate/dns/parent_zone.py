"""Check the parent zone's delegation: which nameservers the registry hands out for the zone."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from migrate.errors import InputError


@dataclass
class DelegationResult:
    zone: str
    expected: list[str]
    parents: dict[str, list[str]] = field(default_factory=dict)  # parent server -> NS it gives
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return (
            bool(self.parents)
            and not self.errors
            and all(sorted(ns) == sorted(self.expected) for ns in self.parents.values())
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "zone": self.zone,
            "expected": self.expected,
            "parents": self.parents,
            "errors": self.errors,
        }


def parent_servers(zone: str) -> list[str]:
    """Addresses of the parent zone's nameservers, through the system resolver."""
    import dns.resolver

    parent = zone.rstrip(".").split(".", 1)[1] if "." in zone.rstrip(".") else "."
    out = []
    try:
        for ns in dns.resolver.resolve(parent, "NS", lifetime=5):
            for rtype in ("A", "AAAA"):
                try:
                    out += [r.to_text() for r in dns.resolver.resolve(ns.target, rtype, lifetime=5)]
                except Exception:
                    continue
    except Exception as exc:
        raise InputError(f"cannot find the nameservers of {parent}: {exc}; give --parent HOST[:PORT]") from None
    return out


def check_delegation(
    zone: str, expected: Sequence[str], parents: Sequence[str] = (), timeout: float = 3.0
) -> DelegationResult:
    """Ask each parent server (non-recursively) for the zone's NS and compare with ``expected``."""
    import dns.flags
    import dns.message
    import dns.query
    import dns.rdatatype

    from migrate.dns.verify import split

    origin = zone.rstrip(".").lower() + "."
    wanted = sorted({n.rstrip(".").lower() + "." for n in expected})
    result = DelegationResult(origin, wanted)
    for parent in parents or parent_servers(zone):
        host, port = split(parent)
        query = dns.message.make_query(origin, "NS")
        query.flags &= ~dns.flags.RD
        try:
            answer, _ = dns.query.udp_with_fallback(query, host, timeout=timeout, port=port)
        except Exception as exc:
            result.errors[parent] = f"{type(exc).__name__}: {exc}"
            continue
        names = sorted(
            str(r.target).lower()
            for section in (answer.answer, answer.authority)
            for rrset in section
            if rrset.rdtype == dns.rdatatype.NS and str(rrset.name).lower() == origin
            for r in rrset
        )
        result.parents[parent] = names
    return result
