"""RFC 2136 dynamic update signed with TSIG; reads by AXFR.

One adapter serves BIND, Knot and PowerDNS alike. Changes go out in as few UPDATE
messages as fit in 64 KiB, each with prerequisites: a record is replaced only if the
server still holds exactly the value we planned from, so a concurrent edit is never
silently overwritten.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import dns.name
import dns.query
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.update

from providers.dnsbase import (
    Capabilities,
    Change,
    DnsProvider,
    DnsProviderError,
    Key,
    ProgressCallback,
    RRset,
    absolute,
    relative,
)
from providers.rfc2136.settings import Rfc2136Settings
from providers.rfc2136.wire import axfr, explain, query_rrset, tsig_key

RECORD_TYPES = frozenset(
    {"A", "AAAA", "CNAME", "MX", "TXT", "NS", "SRV", "CAA", "PTR", "SSHFP", "TLSA", "DS",
     "NAPTR", "SPF", "HINFO", "LOC", "DNAME", "HTTPS", "SVCB", "URI"}
)


class Rfc2136Provider(DnsProvider):
    kind = "rfc2136"
    company = "self"
    capabilities = Capabilities(
        record_types=RECORD_TYPES,
        max_batch_records=1000,
        max_batch_chars=40_000,
        atomic_batches=True,
    )

    def __init__(self, name: str, settings: Rfc2136Settings) -> None:
        super().__init__(name, settings)
        self.host = settings.server
        self.port = settings.port
        self.timeout = settings.timeout
        self._key: Any = None
        self._key_loaded = False

    @property
    def operator(self) -> str:
        if self.settings.operator:
            return str(self.settings.operator)
        return "local sandbox" if self.settings.sandbox else f"rfc2136:{self.host}"

    @property
    def key(self) -> Any:
        if not self._key_loaded:
            tsig = self.settings.tsig
            if tsig is not None:
                secret = tsig.secret.resolve(f"dns_providers.{self.name}.tsig.secret")
                self._key = tsig_key(tsig.name, secret, tsig.algorithm)
            self._key_loaded = True
        return self._key

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    def nameservers(self) -> list[str]:
        return [self.where]

    def records(self, zone: str) -> dict[Key, RRset]:
        return axfr(self.host, self.port, zone, self.key, self.timeout)

    def delegation(self, zone: str) -> dict[Key, RRset]:
        """Apex NS and in-zone nameserver addresses by a few queries, not a whole transfer."""
        origin = absolute("@", zone)
        out: dict[Key, RRset] = {}
        apex = query_rrset(self.host, self.port, origin, "NS", self.timeout)
        if apex is None:
            return out
        out[apex.key] = apex
        for name in apex.values:
            if name == origin or name.endswith("." + origin):
                for rtype in ("A", "AAAA"):
                    found = query_rrset(self.host, self.port, name, rtype, self.timeout)
                    if found is not None:
                        out[found.key] = found
        return out

    def apply(
        self, zone: str, changes: Sequence[Change], progress: ProgressCallback | None = None
    ) -> None:
        done = 0
        for batch in self.batches(changes):
            self._send(zone, batch)
            done += len(batch)
            if progress:
                progress(f"{self.name}: update", done, len(changes))

    def _send(self, zone: str, batch: Sequence[Change]) -> None:
        origin = dns.name.from_text(zone.rstrip(".") + ".")
        update = dns.update.UpdateMessage(origin)
        if self.key is not None:
            update.use_tsig(self.key)
        for change in batch:
            name = dns.name.from_text(change.key[0])
            rdtype = dns.rdatatype.from_text(change.key[1])
            if change.old is not None:
                # Prerequisites carry TTL 0 (RFC 2136 section 2.4.2).
                update.present(name, _rdataset(change.old, origin, ttl=0))
            elif change.key[1] != "SOA":
                update.absent(name, rdtype)
            if change.new is None:
                update.delete(name, rdtype)
            else:
                update.replace(name, _rdataset(change.new, origin))
        try:
            response = dns.query.tcp(update, self.host, port=self.port, timeout=self.timeout)
        except Exception as exc:
            raise explain(exc, self.where, f"update of {zone}") from None
        rcode = response.rcode()
        if rcode != dns.rcode.NOERROR:
            raise DnsProviderError(_rcode_message(rcode, zone, self.where, batch))


def _rdataset(
    rrset: RRset, origin: dns.name.Name, ttl: int | None = None
) -> dns.rdataset.Rdataset:
    rdatas = [_rdata(rrset.type, v, origin) for v in rrset.values]
    return dns.rdataset.from_rdata_list(rrset.ttl if ttl is None else ttl, rdatas)


@functools.lru_cache(maxsize=65536)
def _rdata(rtype: str, value: str, origin: dns.name.Name) -> dns.rdata.Rdata:
    """Parsed once per value (rdata are immutable): a swing repeats the same few addresses."""
    return dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.from_text(rtype), value,
                               origin=origin)


def _rcode_message(rcode: dns.rcode.Rcode, zone: str, where: str, batch: Sequence[Change]) -> str:
    text = dns.rcode.to_text(rcode)
    first = batch[0].key if batch else ("", "")
    if rcode in (dns.rcode.NXRRSET, dns.rcode.YXRRSET, dns.rcode.NXDOMAIN):
        return (
            f"update of {zone} at {where}: {text}: the server's records changed since the plan "
            f"was made (someone else edited the zone?); nothing in this batch was applied. "
            f"Re-run to plan again."
        )
    if rcode in (dns.rcode.REFUSED, dns.rcode.NOTAUTH):
        return (
            f"update of {zone} at {where}: {text}: not allowed (is the zone served there and our "
            f"TSIG key allowed to update it?); nothing in this batch was applied"
        )
    return (
        f"update of {zone} at {where}: {text} on a batch of {len(batch)} change(s) starting at "
        f"{relative(first[0], zone)} {first[1]}; nothing in this batch was applied"
    )
