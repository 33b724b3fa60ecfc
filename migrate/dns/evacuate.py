"""Zone evacuation: copy a whole zone to another DNS provider when the DNS host is leaving.

Every RRset of every type is copied except what belongs to the provider itself: the SOA,
the apex NS set (the new provider's own nameservers take its place at the registrar), and
the address records of the destination's own nameserver hosts. The copy is then read back
and checked record by record.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from migrate.dns.journal import Journal, rrset_row
from migrate.dns.rail import SafetyRailError
from migrate.dns.swing import ProviderResult, SwingResult, journal_outcome, open_swing, providers_for
from migrate.errors import InputError
from providers.dnsbase import DnsProvider, Key, Plan, ProgressCallback, RRset, diff, relative

if TYPE_CHECKING:
    from migrate.spec.model import ServiceSpec


@dataclass
class EvacuateResult:
    zone: str
    source: str
    destination: str
    copied: int = 0
    plan: Plan | None = None
    skipped: list[str] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)
    nameservers: list[str] = field(default_factory=list)
    elapsed_seconds: float = 0.0
    journal_id: str | None = None

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "zone": self.zone,
            "from": self.source,
            "to": self.destination,
            "rrsets_copied": self.copied,
            "changes": self.plan.to_json()["changes"] if self.plan else [],
            "skipped": self.skipped,
            "mismatches": self.mismatches,
            "registrar_nameservers": self.nameservers,
            "elapsed_seconds": round(self.elapsed_seconds, 3),
            "journal_id": self.journal_id,
        }


def copy_set(
    zone: str, source: dict[Key, RRset], destination: dict[Key, RRset], dst: DnsProvider
) -> tuple[list[RRset], list[str]]:
    """RRsets to copy and one line per RRset left out (with why)."""
    apex = zone.rstrip(".").lower() + "."
    own_ns = destination.get((apex, "NS"))
    own_hosts = set(own_ns.values) if own_ns else set()
    copy, skipped = [], []
    for key, rrset in sorted(source.items()):
        name, rtype = key
        label = f"{relative(name, zone)} {rtype}"
        if rtype in dst.capabilities.managed_types:
            continue
        if name == apex and rtype == "NS":
            continue
        if name in own_hosts and rtype in ("A", "AAAA"):
            skipped.append(f"{label}: address of the destination's own nameserver")
            continue
        if not dst.supported(rrset):
            skipped.append(f"{label}: type not supported by {dst.name}")
            continue
        copy.append(rrset)
    return copy, skipped


def evacuate(
    spec: ServiceSpec,
    source: str,
    destination: str,
    *,
    prune: bool = False,
    dry_run: bool = False,
    max_share: float = 0.1,
    providers: Sequence[DnsProvider] | None = None,
    progress: ProgressCallback | None = None,
    journal: Journal | None = None,
) -> EvacuateResult:
    """Copy the zone from ``source`` to ``destination`` and verify the copy.

    Journaled like a swing (kind ``evacuate``: what the destination served for every RRset
    it changes, before changing it), so ``dns rollback --swing ID`` undoes it. ``prune``
    deletions go through the rail: more than ``max_share`` of the destination's RRsets is
    refused, naming the first of them.
    """
    if source == destination:
        raise InputError("--from and --to name the same DNS provider")
    started = time.monotonic()
    found = {p.name: p for p in (providers or providers_for(spec, [source, destination]))}
    src, dst = found[source], found[destination]
    zone = spec.zone
    result = EvacuateResult(zone, source, destination)
    records = src.records(zone)
    if not dry_run:
        dst.ensure_zone(zone)
    current = dst.records(zone) if not dry_run or _exists(dst, zone) else {}
    wanted, result.skipped = copy_set(zone, records, current, dst)
    owned: set[Key] = {r.key for r in wanted}
    if prune:
        protected = {k for k in current if k[1] in dst.capabilities.managed_types}
        apex = zone.rstrip(".").lower() + "."
        protected.add((apex, "NS"))
        ns = current.get((apex, "NS"))
        protected |= {(h, t) for h in (ns.values if ns else ()) for t in ("A", "AAAA")}
        owned |= set(current) - protected
    changes = diff(current, wanted, owned)
    plan = result.plan = Plan(destination, zone, changes, len(current), current)
    result.copied = len(wanted)
    if dry_run:
        return result
    deletions = [c for c in changes if c.new is None]
    if deletions and len(deletions) > max_share * max(len(current), 1):
        names = ", ".join(f"{relative(c.key[0], zone)} {c.key[1]}" for c in deletions[:5])
        more = f" and {len(deletions) - 5} more" if len(deletions) > 5 else ""
        raise SafetyRailError(
            f"safety rail at {destination} ({zone}): --prune would delete {len(deletions)} of its "
            f"{len(current)} RRsets ({names}{more}), over the limit of {max_share:.0%}; refusing "
            "(check with --dry-run, then raise --max-share to apply)"
        )
    journal = journal or Journal(zone)
    touched = [c.key for c in changes]
    before = {"provider": destination, "rrsets": [rrset_row(current[k]) for k in touched if k in current]}
    run_id, _ = open_swing(journal, "evacuate", destination, wanted, touched, befores=[before])
    outcome = SwingResult(run_id, destination, zone, [ProviderResult(destination, plan=result.plan)])
    try:
        dst.apply(plan, progress)
    except Exception as exc:
        outcome.providers[0].error = str(exc)
        journal_outcome(journal, run_id, outcome)
        raise
    journal_outcome(journal, run_id, outcome)
    result.journal_id = run_id
    after = dst.records(zone)
    for rrset in wanted:
        got = after.get(rrset.key)
        if got is None or got.values != rrset.values or got.ttl != rrset.ttl:
            served = f"{got.ttl} {', '.join(got.values)}" if got else "nothing"
            result.mismatches.append(
                f"{relative(rrset.name, zone)} {rrset.type}: {destination} serves {served}, "
                f"source has {rrset.ttl} {', '.join(rrset.values)}"
            )
    ns = after.get((zone.rstrip(".").lower() + ".", "NS"))
    result.nameservers = list(ns.values) if ns else []
    result.elapsed_seconds = time.monotonic() - started
    return result


def _exists(provider: DnsProvider, zone: str) -> bool:
    try:
        provider.records(zone)
    except Exception:
        return False
    return True
