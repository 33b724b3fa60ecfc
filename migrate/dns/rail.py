"""The safety rail: refuse changes nobody expected before they reach a DNS provider."""

from __future__ import annotations

from collections.abc import Iterable

from migrate.errors import SafetyRailError
from providers.dnsbase import Key, Plan, relative


def check(
    plan: Plan,
    expected: Iterable[Key],
    *,
    allow_unexpected: bool = False,
    max_share: float = 0.1,
) -> None:
    """Refuse a plan with surprises.

    Changes to ``expected`` keys (the records the spec owns) never trip the rail: a failover
    legitimately changes all of them. Any other change is refused unless
    ``allow_unexpected``, and even then only up to ``max_share`` of the zone's RRsets.
    Deleting every owned address record at once is a surprise too (a target with no
    addresses would take the service off the air).
    """
    expected = set(expected)
    unexpected = [c for c in plan.changes if c.key not in expected]
    where = f"{plan.provider} ({plan.zone})"
    if unexpected and not allow_unexpected:
        names = ", ".join(f"{relative(c.key[0], plan.zone)} {c.key[1]}" for c in unexpected[:5])
        more = f" and {len(unexpected) - 5} more" if len(unexpected) > 5 else ""
        raise SafetyRailError(
            f"safety rail at {where}: {len(unexpected)} change(s) outside the expected set "
            f"({names}{more}); refusing (pass --allow-unexpected to apply them)"
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
        return
    remaining = {k for k in address_keys if k in plan.current and k not in deleted} | {
        c.key for c in plan.changes if c.new is not None and c.key in address_keys
    }
    if deleted and not remaining:
        raise SafetyRailError(
            f"safety rail at {where}: the change would delete every owned address record "
            f"({len(deleted)}) and leave the service without an address; refusing "
            f"(does the target have public addresses?)"
        )
