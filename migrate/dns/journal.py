"""The DNS journal: what each provider served before a swing, durable before any change.

JSON lines (compact), fsync'd after every append of one or several entries (the mechanism is
``migrate.durable_log``), under
``$MIGRATE_HOME/journal/dns/<zone>.jsonl``
(``MIGRATE_HOME`` defaults to ``.migrate`` in the working directory). Entries hold only
record data and provider names, never credentials.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from migrate.durable_log import DurableLog
from migrate.home import migrate_home
from providers.dnsbase import Key, RRset


def journal_path(zone: str, home: Path | None = None) -> Path:
    return (home or migrate_home()) / "journal" / "dns" / f"{zone.rstrip('.')}.jsonl"


def rrset_row(rrset: RRset) -> list[Any]:
    """An RRset as the journal stores it: ``[name, type, ttl, [values]]`` (compact: a swing
    journals every owned RRset of every provider, thousands of them, before changing any)."""
    return [rrset.name, rrset.type, rrset.ttl, list(rrset.values)]


def rrset_from_row(row: list[Any] | dict[str, Any]) -> RRset:
    """Read a journaled RRset: a row, or the ``{name, type, ttl, values}`` of older journals."""
    if isinstance(row, dict):
        return RRset.from_json(row)
    name, rtype, ttl, values = row
    return RRset(name, rtype, int(ttl), tuple(values))


@dataclass
class SwingRecord:
    """One swing (or rollback) as read back from the journal."""

    id: str
    kind: str
    target: str
    started: float
    desired: list[RRset] = field(default_factory=list)
    owned: list[Key] = field(default_factory=list)
    before: dict[str, list[RRset]] = field(default_factory=dict)  # first "before" per provider
    applied: set[str] = field(default_factory=set)
    failed: dict[str, str] = field(default_factory=dict)
    done: bool = False
    ok: bool = False
    rolls_back: str | None = None

    @property
    def pending(self) -> list[str]:
        """Providers journaled before the change that did not (yet) get it."""
        return [p for p in self.before if p not in self.applied]


class Journal:
    id_field = "swing"  # the field each entry's change id is written in

    def __init__(self, zone: str, home: Path | None = None, path: Path | None = None) -> None:
        self.zone = zone
        self.path = path or journal_path(zone, home)
        self._log = DurableLog(self.path)

    def new_id(self) -> str:
        return time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]

    def write(self, swing_id: str, event: str, **data: Any) -> None:
        self.write_many(swing_id, [(event, data)])

    def write_many(self, swing_id: str, events: Sequence[tuple[str, dict[str, Any]]]) -> None:
        """Append entries with one write and one fsync: durable together before we go on."""
        ts = round(time.time(), 3)
        self._log.append(*({"ts": ts, self.id_field: swing_id, "event": event, **data} for event, data in events))

    def entries(self) -> list[dict[str, Any]]:
        """Every whole entry; each carries its change id as ``id`` whatever field older
        journals kept it in."""
        out = self._log.records()
        for entry in out:
            entry.setdefault("id", entry.get(self.id_field, entry.get("swing")))
        return out

    def swings(self) -> list[SwingRecord]:
        records: dict[str, SwingRecord] = {}
        for e in self.entries():
            sid, event = e["id"], e["event"]
            if event == "start":
                records[sid] = SwingRecord(
                    sid,
                    e.get("kind", "swing"),
                    e.get("target", "?"),
                    e["ts"],
                    [rrset_from_row(r) for r in e.get("desired", [])],
                    [(k[0], k[1]) for k in e.get("owned", [])],
                    rolls_back=e.get("rolls_back"),
                )
                continue
            record = records.get(sid)
            if record is None:
                continue
            if event == "before":
                record.before.setdefault(e["provider"], [rrset_from_row(r) for r in e["rrsets"]])
            elif event == "applied":
                record.applied.add(e["provider"])
                record.failed.pop(e["provider"], None)
            elif event == "failed":
                record.failed[e["provider"]] = e.get("error", "")
            elif event == "done":
                record.done, record.ok = True, bool(e.get("ok"))
        return sorted(records.values(), key=lambda r: r.started)

    def last(self, kind: str | None = None) -> SwingRecord | None:
        swings = [s for s in self.swings() if kind is None or s.kind == kind]
        return swings[-1] if swings else None
