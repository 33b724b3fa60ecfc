"""RFC 2136 UPDATE messages written straight to wire format, TSIG-signed by dnspython.

Building a 9,000-change update through ``dns.update.UpdateMessage`` costs seconds of CPU:
every record becomes an rdata object, rdatasets are hashed and compared through their wire
form, and names are compressed through ``dns.name.Name`` tables. A swing's changes are
a few shapes over plain owner names, so this writes each one directly: owner names as
their labels relative to the zone plus a pointer to the zone name in the header section
(later mentions of the same owner point at the first), rdata encoded once per distinct
value by dnspython (so every type is written exactly as dnspython would), and the
finished message signed with ``dns.tsig.sign`` as ``dns.renderer`` does.

Each change carries the same prerequisites as before: an update needs the RRset to hold
exactly the planned values ("RRset exists, value dependent", RFC 2136 2.4.2), a create
needs it absent (2.4.3), so a concurrent edit fails the whole message instead of being
overwritten.
"""

from __future__ import annotations

import functools
import secrets
import struct
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.TSIG
import dns.tsig

from migrate.errors import DnsProviderError
from providers.dnsbase import Change

OPCODE_UPDATE = 5 << 11
CLASS_IN, CLASS_NONE, CLASS_ANY = 1, 254, 255
TYPE_SOA, TYPE_TSIG = 6, 250
HEADER = 12
ZONE_POINTER = b"\xc0\x0c"  # the zone section's name starts right after the header
MAX_POINTER = 0x3FFF
# Room left for the TSIG record (owner up to 255, algorithm up to 255, MAC up to 64...).
MESSAGE_LIMIT = 65535 - 700
_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_*")


@dataclass
class Update:
    """One unsigned UPDATE message and the changes it carries (applied all or none)."""

    wire: bytes
    changes: list[Change]


def updates(zone: str, changes: Sequence[Change], limit: int = MESSAGE_LIMIT) -> Iterator[Update]:
    """The changes as UPDATE messages of at most ``limit`` bytes each, in order."""
    origin = _origin(zone)
    batch: list[Change] = []
    size = HEADER + len(origin) + 4
    for change in changes:
        need = _size_bound(change, origin)
        if HEADER + len(origin) + 4 + need > limit:
            raise DnsProviderError(
                f"{change.key[0]} {change.key[1]}: the change alone needs {need} bytes, more "
                f"than one DNS UPDATE message holds ({limit}); split the RRset"
            )
        if batch and size + need > limit:
            yield Update(_render(origin, batch), batch)
            batch, size = [], HEADER + len(origin) + 4
        batch.append(change)
        size += need
    if batch:
        yield Update(_render(origin, batch), batch)


def sign(wire: bytes, key: Any) -> tuple[bytes, bytes]:
    """(signed message, request MAC): a TSIG record appended as ``dns.renderer`` writes it."""
    (qid,) = struct.unpack_from("!H", wire, 0)
    template = dns.rdtypes.ANY.TSIG.TSIG(
        dns.rdataclass.ANY, dns.rdatatype.TSIG, key.algorithm, 0, 300, b"", qid, 0, b""
    )
    tsig, _ = dns.tsig.sign(wire, key, template, int(time.time()), b"")
    rdata = tsig.to_wire()
    (arcount,) = struct.unpack_from("!H", wire, 10)
    signed = (
        wire[:10]
        + struct.pack("!H", arcount + 1)
        + wire[12:]
        + key.name.to_wire()
        + struct.pack("!HHIH", TYPE_TSIG, CLASS_ANY, 0, len(rdata))
        + rdata
    )
    return signed, tsig.mac


def _origin(zone: str) -> bytes:
    return _wire(dns.name.from_text(zone.rstrip(".") + "."))


def _wire(item: dns.name.Name | dns.rdata.Rdata, origin: dns.name.Name | None = None) -> bytes:
    """Uncompressed wire form (dnspython's ``to_wire()`` without a file returns bytes)."""
    out = item.to_wire(origin=origin) if isinstance(item, dns.rdata.Rdata) else item.to_wire()
    assert out is not None
    return out


@functools.lru_cache(maxsize=64)
def _zone(origin: bytes) -> tuple[dns.name.Name, str]:
    zone = dns.name.from_wire(origin, 0)[0]
    return zone, zone.to_text().lower()


@functools.lru_cache(maxsize=65536)
def _relative_labels(name: str, origin: bytes) -> bytes | None:
    """``name``'s labels below the zone in wire form (b"" for the apex); None if outside it."""
    zone, suffix = _zone(origin)
    if name.isascii() and "\\" not in name:
        text = name.lower()
        if text == suffix:
            return b""
        if text.endswith("." + suffix):
            labels = text[: -len(suffix) - 1].split(".")
            if all(0 < len(label) <= 63 and _PLAIN.issuperset(label) for label in labels):
                return b"".join(bytes([len(label)]) + label.encode() for label in labels)
    parsed = dns.name.from_text(name)
    if not parsed.is_subdomain(zone):
        return None
    return b"".join(bytes([len(label)]) + label for label in parsed.relativize(zone).labels)


@functools.lru_cache(maxsize=256)
def _type_code(rtype: str) -> int:
    return int(dns.rdatatype.from_text(rtype))


@functools.lru_cache(maxsize=65536)
def _rdata(rtype: str, value: str, origin: bytes) -> bytes:
    """``value`` in wire form, uncompressed; parsed by dnspython once per distinct value."""
    zone = _zone(origin)[0]
    try:
        rdata = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.from_text(rtype), value, origin=zone)
    except Exception as exc:
        raise DnsProviderError(f"bad {rtype} value {value!r}: {exc}") from None
    return _wire(rdata, zone)


def _owner_size(name: str, origin: bytes) -> int:
    labels = _relative_labels(name, origin)
    if labels is None:
        return len(_wire(dns.name.from_text(name)))
    return len(labels) + 2


def _size_bound(change: Change, origin: bytes) -> int:
    """Bytes ``change`` takes with no pointer but the one to the zone name: an upper bound."""
    name, rtype = change.key
    owner = _owner_size(name, origin) + 10
    size = 0
    if change.old is not None:
        size += sum(owner + len(_rdata(rtype, v, origin)) for v in change.old.values)
    elif rtype != "SOA":
        size += owner
    size += owner  # delete the RRset
    if change.new is not None:
        size += sum(owner + len(_rdata(rtype, v, origin)) for v in change.new.values)
    return size


class _Writer:
    def __init__(self, origin: bytes) -> None:
        self.origin = origin
        self.out = bytearray()
        self.seen: dict[str, int] = {}

    def owner(self, name: str) -> None:
        """The owner name, pointing at its first mention or at the zone name."""
        at = self.seen.get(name)
        if at is not None:
            self.out += struct.pack("!H", 0xC000 | at)
            return
        labels = _relative_labels(name, self.origin)
        if labels is None:
            self.out += _wire(dns.name.from_text(name))
            return
        if labels:
            if len(self.out) <= MAX_POINTER:
                self.seen[name] = len(self.out)
            self.out += labels
        self.out += ZONE_POINTER

    def record(self, name: str, rdtype: int, rdclass: int, ttl: int, rdata: bytes) -> None:
        self.owner(name)
        self.out += struct.pack("!HHIH", rdtype, rdclass, ttl, len(rdata))
        self.out += rdata


def _render(origin: bytes, changes: Sequence[Change]) -> bytes:
    """One UPDATE: zone section, prerequisites (section 2.4), then the updates (2.5)."""
    w = _Writer(origin)
    w.out += bytes(HEADER) + origin + struct.pack("!HH", TYPE_SOA, CLASS_IN)
    prerequisites = 0
    for change in changes:
        name, rtype = change.key
        code = _type_code(rtype)
        if change.old is not None:
            # RRset exists with exactly these values; TTL 0 (2.4.2).
            for value in change.old.values:
                w.record(name, code, CLASS_IN, 0, _rdata(rtype, value, origin))
                prerequisites += 1
        elif rtype != "SOA":
            w.record(name, code, CLASS_NONE, 0, b"")  # RRset does not exist (2.4.3)
            prerequisites += 1
    updates = 0
    for change in changes:
        name, rtype = change.key
        code = _type_code(rtype)
        w.record(name, code, CLASS_ANY, 0, b"")  # delete the RRset (2.5.2)
        updates += 1
        if change.new is not None:
            for value in change.new.values:
                w.record(name, code, CLASS_IN, change.new.ttl, _rdata(rtype, value, origin))
                updates += 1
    qid = secrets.randbelow(65536)
    w.out[:HEADER] = struct.pack("!6H", qid, OPCODE_UPDATE, 1, prerequisites, updates, 0)
    return bytes(w.out)
