"""The safety rail: refuse changes nobody expected before they reach a DNS provider."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from migrate.errors import SafetyRailError
from providers.dnsbase import Change, Key, Plan, RRset, relative


@dataclass
class Known:
    """What an owned record has been seen to hold: the values migrate pointed it at (every
    target it knows, every earlier swing) and what it held before migrate touched it. A
    current value outside this set points at neither target: someone else set it, or the
    spec owns a record by mistake."""

    values: dict[Key, set[tuple[str, ...]]] = field(default_factory=dict)
    ttls: dict[Key, set[int]] = field(default_factory=dict)

    def add(self, rrsets: Iterable[RRset]) -> None:
        for rrset in rrsets:
            self.values.setdefault(rrset.key, set()).add(rrset.values)
            self.ttls.setdefault(rrset.key, set()).add(rrset.ttl)


def surprising(change: Change, known: Known | None, extra_ttls: Iterable[int] = ()) -> str | None:
    """Why a change to an owned record is a surprise (None when it is the expected swing):
    its current value points at neither a known target nor what it held before, or its TTL
    changes to something nobody set."""
    old, new = change.old, change.new
    if old is None or new is None or known is None:
        return None
    seen = known.values.get(old.key)
    if seen and old.values not in seen:
        return f"serves {', '.join(old.values) or 'nothing'}, which is neither target"
    if old.ttl != new.ttl and old.ttl not in {*known.ttls.get(old.key, ()), *extra_ttls}:
        return f"TTL {old.ttl} would become {new.ttl}"
    return None


def check(
    plan: Plan,
    expected: Iterable[Key],
    *,
    allow_unexpected: bool = False,
    max_share: float = 0.1,
    known: Known | None = None,
    extra_ttls: Iterable[int] = (),
) -> list[str]:
    """Refuse a plan with surprises; return the ones ``allow_unexpected`` let through.

    Changes to ``expected`` keys (the records the spec owns) do not trip the rail by being
    there: a failover legitimately changes all of them. But an owned record that currently
    points at neither target (``known``), or whose TTL changes to one nobody set, is a
    surprise, as is any change outside the expected set: refused unless
    ``allow_unexpected``, and even then only up to ``max_share`` of the zone's RRsets.
    Deleting every owned address record at once is a surprise too (a target with no
    addresses would take the service off the air).
    """
    expected = set(expected)
    extra_ttls = tuple(extra_ttls)
    reasons: dict[Key, str] = {}
    for c in plan.changes:
        reason = "outside the expected set" if c.key not in expected else surprising(c, known, extra_ttls)
        if reason is not None:
            reasons[c.key] = reason
    unexpected = [c for c in plan.changes if c.key in reasons]
    where = f"{plan.provider} ({plan.zone})"
    described = [f"{relative(c.key[0], plan.zone)} {c.key[1]} {reasons[c.key]}" for c in unexpected]
    if unexpected and not allow_unexpected:
        more = f" and {len(unexpected) - 5} more" if len(unexpected) > 5 else ""
        raise SafetyRailError(
            f"safety rail at {where}: {len(unexpected)} unexpected change(s) "
            f"({'; '.join(described[:5])}{more}); refusing (pass --allow-unexpected to apply them)"
        )
    if unexpected and plan.zone_size:
        share = len(unexpected) / plan.zone_size
        if share > max_share:
            raise SafetyRailError(
                f"safety rail at {where}: {len(unexpected)} unexpected change(s) are "
                f"{share:.0%} of the zone's {plan.zone_size} RRsets, over the limit of "
                f"{max_share:.0%}; refusing (raise --max-share to apply them)"
            )
    address_keys = {k for k in expected if k[1] in ("A", "AAAA", "CNAME")}
    deleted = {c.key for c in plan.changes if c.new is None and c.key in address_keys}
    if not deleted:
        return described
    remaining = {k for k in address_keys if k in plan.current and k not in deleted} | {
        c.key for c in plan.changes if c.new is not None and c.key in address_keys
    }
    if deleted and not remaining:
        raise SafetyRailError(
            f"safety rail at {where}: the change would delete every owned address record "
            f"({len(deleted)}) and leave the service without an address; refusing "
            f"(does the target have public addresses?)"
        )
    return described
