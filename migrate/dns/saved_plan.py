"""Saved plans: the exact change set a reviewer saw, applied later exactly as saved.

``dns plan --out FILE`` writes, per provider, every change (old and new values and TTLs)
and a fingerprint of the owned RRsets that provider served when planning. ``dns swing
--plan FILE`` reads each provider again and refuses, naming every record that moved, if
what it serves no longer matches a change's "old" side: an edit made between review and
swing is never overwritten silently. The comparison is a read-compare-write done for
every provider (API providers have no conditional write); RFC 2136 providers also send
each change with value-dependent prerequisites, which closes the race between the read
and the write.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from migrate.dns.journal import rrset_from_row, rrset_row
from migrate.errors import InputError, MigrateError
from migrate.private_files import write_private_file
from providers.dnsbase import Change, Key, Plan, RRset, relative

FORMAT = "migrate-dns-plan/1"


class PlanMovedError(MigrateError):
    """A provider no longer serves what the saved plan (or the journaled swing) saw (exit 1)."""


def fingerprint(current: dict[Key, RRset], owned: Iterable[Key]) -> str:
    """sha256 over the owned RRsets a provider serves (name, type, TTL, values), sorted."""
    digest = hashlib.sha256()
    for key in sorted(set(owned)):
        rrset = current.get(key)
        row = rrset_row(rrset) if rrset is not None else [key[0], key[1], None, None]
        digest.update(json.dumps(row, separators=(",", ":")).encode() + b"\n")
    return "sha256:" + digest.hexdigest()


@dataclass
class SavedProviderPlan:
    provider: str
    fingerprint: str
    zone_size: int
    changes: list[Change]


@dataclass
class SavedPlan:
    zone: str
    target: str
    health_url: str
    owned: list[Key]
    desired: list[RRset]
    providers: list[SavedProviderPlan]

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "zone": self.zone,
            "target": self.target,
            "health_url": self.health_url,
            "owned": [list(k) for k in self.owned],
            "desired": [rrset_row(r) for r in self.desired],
            "providers": [
                {
                    "provider": p.provider,
                    "fingerprint": p.fingerprint,
                    "zone_size": p.zone_size,
                    "changes": [c.to_json() for c in p.changes],
                }
                for p in self.providers
            ],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], where: str) -> SavedPlan:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise InputError(f"{where}: not a saved DNS plan (format {FORMAT!r} expected)")
        try:
            return cls(
                zone=str(data["zone"]),
                target=str(data["target"]),
                health_url=str(data.get("health_url") or ""),
                owned=[(str(k[0]), str(k[1])) for k in data["owned"]],
                desired=[rrset_from_row(r) for r in data["desired"]],
                providers=[
                    SavedProviderPlan(
                        str(p["provider"]),
                        str(p["fingerprint"]),
                        int(p.get("zone_size", 0)),
                        [Change.from_json(c) for c in p["changes"]],
                    )
                    for p in data["providers"]
                ],
            )
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise InputError(f"{where}: malformed saved DNS plan ({type(exc).__name__}: {exc})") from None

    def plan_for(self, provider: str, current: dict[Key, RRset]) -> Plan:
        saved = {p.provider: p for p in self.providers}[provider]  # by account name
        return Plan(provider, self.zone, list(saved.changes), saved.zone_size or len(current), current)


def from_plans(
    zone: str, target: str, health_url: str, owned: Sequence[Key], desired: Sequence[RRset], plans: Sequence[Plan]
) -> SavedPlan:
    return SavedPlan(
        zone,
        target,
        health_url,
        list(owned),
        list(desired),
        [SavedProviderPlan(p.provider, fingerprint(p.current, owned), p.zone_size, list(p.changes)) for p in plans],
    )


def write(plan: SavedPlan, path: Path) -> None:
    """Write the plan (record data only, no credentials), owner-only, atomically."""
    write_private_file(path, json.dumps(plan.to_json(), separators=(",", ":")) + "\n")


def read(path: Path) -> SavedPlan:
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: cannot read the saved DNS plan: {type(exc).__name__}") from None
    return SavedPlan.from_json(data, str(path))


def moved(changes: Iterable[Change], current: dict[Key, RRset], zone: str | None = None) -> list[str]:
    """The records whose served data is not the "old" side of their change (TTL included)."""
    out = []
    for change in changes:
        served = current.get(change.key)
        old = change.old
        if old is None and served is None:
            continue
        if old is not None and old.same_data(served):
            continue
        out.append(describe_move(change.key, old, served, zone))
    return out


def describe_move(key: Key, expected: RRset | None, served: RRset | None, zone: str | None = None) -> str:
    name = relative(key[0], zone) if zone else key[0]

    def show(r: RRset | None) -> str:
        return "absent" if r is None else f"{', '.join(r.values)} (ttl {r.ttl})"

    return f"{name} {key[1]}: expected {show(expected)}, serves {show(served)}"
