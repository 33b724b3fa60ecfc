"""What every DNS provider adapter shares: record values, changes, plans, capabilities.

Modelled on octoDNS: a provider reads a zone into RRsets, a ``Plan`` is the list of
``Change``s that turns what a provider serves into what is wanted, and can be printed
before anything is applied. Names are absolute and lower-case (``www.social.example.``);
values are in DNS presentation format, normalised by dnspython so that two providers
that spell the same data differently compare equal.
"""

from __future__ import annotations

import abc
import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from migrate.errors import DnsProviderError
from providers.account import ProviderAccount

Key = tuple[str, str]  # (absolute name, type)


def absolute(name: str, zone: str) -> str:
    """``@``/``www``/``www.zone.`` -> ``www.zone.``; lower-case, with the trailing dot."""
    return absolute_names([name], zone)[0]


def absolute_names(names: Iterable[str], zone: str) -> list[str]:
    """``absolute`` of many names in one zone (a spec may own 10,000s of records)."""
    bare = zone.rstrip(".").lower()
    apex = bare + "."
    out = []
    for name in names:
        name = name.strip().lower()
        if name in ("@", "", apex):
            out.append(apex)
        elif name.endswith("."):
            out.append(name)
        elif name.endswith(bare):
            out.append(name + ".")
        else:
            out.append(f"{name}.{apex}")
    return out


def relative(name: str, zone: str) -> str:
    """``www.zone.`` -> ``www``; the apex is ``@``."""
    zone = zone.rstrip(".").lower() + "."
    if name == zone:
        return "@"
    if name.endswith("." + zone):
        return name[: -len(zone) - 1]
    return name


@functools.lru_cache(maxsize=65536)
def normalise_value(rtype: str, value: str, zone: str) -> str:
    """Presentation format as dnspython writes it, names made absolute.

    Cached: a swing gives thousands of records the same few target addresses, and parsing
    each with dnspython cost more than the rest of planning.
    """
    import dns.name
    import dns.rdata
    import dns.rdataclass
    import dns.rdatatype

    origin = dns.name.from_text(zone.rstrip(".") + ".")
    try:
        rdata = dns.rdata.from_text(
            dns.rdataclass.IN,
            dns.rdatatype.from_text(rtype),
            value,
            origin=origin,
            relativize=False,
        )
    except Exception as exc:
        raise DnsProviderError(f"bad {rtype} value {value!r}: {exc}") from None
    return str(rdata.to_text(origin=None, relativize=False))


@dataclass(frozen=True, order=True)
class RRset:
    """All records of one name and type: the unit DNS providers change atomically."""

    name: str
    type: str
    ttl: int
    values: tuple[str, ...]

    @classmethod
    def make(cls, name: str, rtype: str, ttl: int, values: Iterable[str], zone: str) -> RRset:
        rtype = rtype.upper()
        normalised = sorted({normalise_value(rtype, v, zone) for v in values})
        return cls(absolute(name, zone), rtype, int(ttl), tuple(normalised))

    @property
    def key(self) -> Key:
        return (self.name, self.type)

    def same_data(self, other: RRset | None) -> bool:
        return other is not None and self.ttl == other.ttl and self.values == other.values

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "ttl": self.ttl, "values": list(self.values)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RRset:
        return cls(data["name"], data["type"], int(data["ttl"]), tuple(data["values"]))

    def value_chars(self) -> int:
        return sum(len(v) for v in self.values)


@dataclass(frozen=True)
class Change:
    """One RRset going from ``old`` to ``new``; either may be None (create / delete)."""

    old: RRset | None
    new: RRset | None

    def __post_init__(self) -> None:
        if self.old is None and self.new is None:
            raise ValueError("a change needs an old or a new RRset")

    @property
    def action(self) -> Literal["create", "update", "delete"]:
        if self.old is None:
            return "create"
        if self.new is None:
            return "delete"
        return "update"

    @property
    def key(self) -> Key:
        rrset = self.new or self.old
        assert rrset is not None
        return rrset.key

    def to_json(self) -> dict[str, Any]:
        """One flat object: name, type, and the TTL and values before and after (null when
        the RRset is created or deleted). Flat because a big swing lists 10,000s of them."""
        old, new = self.old, self.new  # no property calls
        rrset = new or old
        assert rrset is not None
        return {
            "action": "create" if old is None else "delete" if new is None else "update",
            "name": rrset.name,
            "type": rrset.type,
            "old_ttl": old.ttl if old else None,
            "old_values": old.values if old else None,
            "new_ttl": new.ttl if new else None,
            "new_values": new.values if new else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Change:
        def side(which: str) -> RRset | None:
            values = data.get(f"{which}_values")
            if values is None:
                return None
            return RRset(data["name"], data["type"], int(data[f"{which}_ttl"]), tuple(values))

        return cls(side("old"), side("new"))

    def inverse(self) -> Change:
        return Change(self.new, self.old)


@dataclass
class Plan:
    """The changes one provider needs; printable before it is applied."""

    provider: str
    zone: str
    changes: list[Change]
    zone_size: int = 0
    current: dict[Key, RRset] = field(default_factory=dict)

    @property
    def old_ttl(self) -> int:
        """How long resolvers may keep serving the old answers after the change."""
        return max((c.old.ttl for c in self.changes if c.old is not None), default=0)

    def to_json(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "zone": self.zone,
            "zone_size": self.zone_size,
            "old_ttl": self.old_ttl,
            "changes": [c.to_json() for c in self.changes],
        }

    def rows(self, changes: Sequence[Change] | None = None) -> list[tuple[str, str, str, str, str, str]]:
        """(provider, name, type, old, new, ttl) for a table (all changes, or those given)."""
        rows = []
        for c in self.changes if changes is None else changes:
            old = ", ".join(c.old.values) if c.old else "-"
            new = ", ".join(c.new.values) if c.new else "(deleted)"
            ttl_old = c.old.ttl if c.old else None
            ttl_new = c.new.ttl if c.new else None
            ttl = str(ttl_new) if ttl_old in (None, ttl_new) else f"{ttl_old} -> {ttl_new}"
            if ttl_new is None:
                ttl = str(ttl_old)
            rows.append((self.provider, relative(c.key[0], self.zone), c.key[1], old, new, ttl))
        return rows

    def __str__(self) -> str:
        lines = [f"{self.provider} ({self.zone}): {len(self.changes)} change(s)"]
        for _, name, rtype, old, new, ttl in self.rows():
            lines.append(f"  {name} {rtype}: {old} -> {new} (ttl {ttl})")
        return "\n".join(lines)


def diff(current: dict[Key, RRset], desired: Iterable[RRset], owned: Iterable[Key] | None = None) -> list[Change]:
    """Changes turning ``current`` into ``desired`` for the ``owned`` keys only.

    ``owned`` None means the desired RRsets' own keys: nothing else is touched. A key that is
    owned but not desired is deleted.
    """
    wanted = {r.key: r for r in desired}
    keys = set(wanted) if owned is None else set(owned) | set(wanted)
    changes = []
    for key in sorted(keys):
        old, new = current.get(key), wanted.get(key)
        if new is None and old is None:
            continue
        if new is not None and new.same_data(old):
            continue
        changes.append(Change(old, new))
    return changes


# The record types every DNS provider here stores: a provider's ``record_types`` unless it
# stores more (``COMMON_TYPES | {...}``).
COMMON_TYPES = frozenset({"A", "AAAA", "CNAME", "MX", "TXT", "NS", "SRV", "CAA"})


@dataclass(frozen=True)
class Capabilities:
    """What a provider can do: record types it stores, how big one atomic batch may be."""

    record_types: frozenset[str] = COMMON_TYPES
    max_batch_records: int | None = None
    max_batch_chars: int | None = None
    atomic_batches: bool = True
    # Types a provider manages itself and refuses to take from a copy (SOA, its own NS).
    managed_types: frozenset[str] = frozenset({"SOA"})


ProgressCallback = Callable[[str, int, int], None]
"""(what, done, total) — called by long operations; printing is the caller's business."""


class DnsProvider(ProviderAccount, abc.ABC):
    """One DNS provider serving a zone. Subclasses read RRsets and apply changes."""

    capabilities: ClassVar[Capabilities]

    @abc.abstractmethod
    def records(self, zone: str) -> dict[Key, RRset]:
        """Every RRset the provider serves in ``zone``."""

    def apply(self, plan: Plan, progress: ProgressCallback | None = None) -> None:
        """Apply ``plan`` (this provider's, from ``plan`` or read back from a saved plan); raise
        ``DnsProviderError`` naming the record at fault. A plan made for another provider is
        refused before anything is sent."""
        if plan.provider != self.name:
            raise DnsProviderError(f"{self.name}: refusing a plan made for {plan.provider!r}")
        if plan.changes:
            self._apply(plan.zone, plan.changes, progress)

    @abc.abstractmethod
    def _apply(self, zone: str, changes: Sequence[Change], progress: ProgressCallback | None) -> None:
        """Send ``changes`` (never empty) to the provider: what each subclass implements."""

    def nameservers(self) -> list[str]:
        """``host:port`` of servers this provider answers on directly, if it knows them."""
        return []

    def delegation(self, zone: str) -> dict[Key, RRset]:
        """The apex NS RRset and the addresses of in-zone nameservers: what discovery needs.

        Default: picked out of a full read; providers that can ask for just these override it.
        """
        records = self.records(zone)
        apex = records.get((absolute("@", zone), "NS"))
        names = set(apex.values) if apex else set()
        return {
            k: r
            for k, r in records.items()
            if (k[1] == "NS" and k[0] == absolute("@", zone)) or (k[1] in ("A", "AAAA") and k[0] in names)
        }

    def ensure_zone(self, zone: str) -> None:
        """Create ``zone`` if the provider needs it to exist before records go in."""

    def close(self) -> None:
        """Release connections."""

    def plan(self, zone: str, desired: Iterable[RRset], owned: Iterable[Key] | None = None) -> Plan:
        current = self.records(zone)
        return Plan(self.name, zone, diff(current, desired, owned), len(current), current)

    def supported(self, rrset: RRset) -> bool:
        return rrset.type in self.capabilities.record_types

    @property
    def max_batch_records(self) -> int | None:
        """Records per batch: the API's limit, unless the provider's settings say otherwise."""
        return self.capabilities.max_batch_records

    def batches(self, changes: Sequence[Change]) -> list[list[Change]]:
        """Split changes so that each batch fits the provider's limits."""
        limit_n = self.max_batch_records
        limit_c = self.capabilities.max_batch_chars
        batches: list[list[Change]] = []
        current: list[Change] = []
        count = chars = 0
        for change in changes:
            n = self.batch_weight(change)
            c = sum(r.value_chars() for r in (change.old, change.new) if r is not None)
            over_n = limit_n is not None and count + n > limit_n
            over_c = limit_c is not None and chars + c > limit_c
            if current and (over_n or over_c):
                batches.append(current)
                current, count, chars = [], 0, 0
            current.append(change)
            count += n
            chars += c
        if current:
            batches.append(current)
        return batches

    def batch_weight(self, change: Change) -> int:
        """How many records a change counts as against ``max_batch_records``."""
        return sum(len(r.values) for r in (change.old, change.new) if r is not None)


def make_provider(name: str, settings: Any) -> DnsProvider:
    """Build the adapter for a spec's ``dns_providers`` entry."""
    from providers.registry import dns_provider_class

    cls = dns_provider_class(settings.provider)
    provider: DnsProvider = cls(name, settings)
    return provider
