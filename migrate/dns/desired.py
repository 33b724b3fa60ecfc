"""What the zone should hold for the records the spec owns, from a target's outputs."""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

from migrate.errors import InputError
from providers.dnsbase import Key, RRset, absolute_names, normalise_value

if TYPE_CHECKING:
    from migrate.outputs import TargetOutputs
    from migrate.spec.model import ServiceSpec


def owned_keys(spec: ServiceSpec) -> list[Key]:
    """(name, type) of every RRset the spec owns: the only ones a swing may touch."""
    return sorted(set(zip(_absolute_names(spec), (r.type for r in spec.dns.records), strict=True)))


def _absolute_names(spec: ServiceSpec) -> list[str]:
    return absolute_names((r.name for r in spec.dns.records), spec.zone)


def desired_rrsets(spec: ServiceSpec, outputs: TargetOutputs) -> list[RRset]:
    """RRsets pointing the owned records at ``outputs``; an owned type with no value is absent."""
    zone = spec.zone
    v4 = [a for a in outputs.public_addresses if _version(a) == 4]
    v6 = [a for a in outputs.public_addresses if _version(a) == 6]
    grouped: dict[Key, tuple[int, list[str]]] = {}
    for record, name in zip(spec.dns.records, _absolute_names(spec), strict=True):
        ttl = record.ttl or spec.dns.ttl
        if record.value is not None:
            values = [record.value]
        elif record.type == "A":
            values = v4
        elif record.type == "AAAA":
            values = v6
        elif record.type == "CNAME":
            values = [outputs.public_hostname.rstrip(".") + "."] if outputs.public_hostname else []
        else:
            raise InputError(
                f"dns.records: {record.name} {record.type} needs a value (only A, AAAA and "
                f"CNAME records can follow the target)"
            )
        key = (name, record.type)
        seen = grouped.get(key)
        grouped[key] = (ttl, values) if seen is None else (min(seen[0], ttl), seen[1] + values)
    # Thousands of records share a few value lists (the target's addresses): normalise each
    # list once. Names in ``grouped`` are absolute already.
    normalised: dict[tuple[str, tuple[str, ...]], tuple[str, ...]] = {}
    out = []
    for (name, rtype), (ttl, values) in sorted(grouped.items()):
        if not values:
            continue
        rtype = rtype.upper()
        wanted = (rtype, tuple(values))
        texts = normalised.get(wanted)
        if texts is None:
            texts = normalised[wanted] = tuple(sorted({normalise_value(rtype, v, zone) for v in values}))
        out.append(RRset(name, rtype, int(ttl), texts))
    return out


def _version(address: str) -> int:
    try:
        return ipaddress.ip_address(address).version
    except ValueError:
        raise InputError(f"target outputs: public_addresses has {address!r}, not an IP") from None
