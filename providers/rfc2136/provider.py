"""RFC 2136 dynamic update signed with TSIG; reads by AXFR.

One adapter serves BIND, Knot and PowerDNS alike. Changes go out in as few UPDATE
messages as fit in 64 KiB (written by ``update.py``), each with prerequisites: a record is replaced only if the
server still holds exactly the value we planned from, so a concurrent edit is never
silently overwritten.
"""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Sequence
from typing import Any

import dns.flags
import dns.opcode
import dns.query
import dns.rcode

from migrate.errors import DnsProviderError
from providers.dnsbase import (
    COMMON_TYPES,
    Capabilities,
    Change,
    DnsProvider,
    Key,
    ProgressCallback,
    RRset,
    absolute,
    relative,
)
from providers.rfc2136.settings import Rfc2136Settings
from providers.rfc2136.update import Update, sign, updates
from providers.rfc2136.wire import axfr, explain, query_rrset, tsig_key

# Everything dnspython can carry in an UPDATE that a zone here holds.
RECORD_TYPES = COMMON_TYPES | frozenset(
    {"PTR", "SSHFP", "TLSA", "DS", "NAPTR", "SPF", "HINFO", "LOC", "DNAME", "HTTPS", "SVCB", "URI"}
)


class Rfc2136Provider(DnsProvider):
    kind = "rfc2136"
    company = "self"
    capabilities = Capabilities(
        record_types=RECORD_TYPES,
        # No record-count limit: apply() packs changes into UPDATE messages by size (64 KiB).
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

    def _apply(self, zone: str, changes: Sequence[Change], progress: ProgressCallback | None) -> None:
        """Send the changes as few UPDATE messages as fit in 64 KiB, one after the other on
        one TCP connection; stop at the first the server refuses (each is all or nothing).

        The next message is written while the server applies the current one: the server
        never waits for us, and still no message is sent before the previous one succeeded.
        """
        batches = updates(zone, changes)
        try:
            self._apply_batches(zone, changes, batches, progress)
        except DnsProviderError as exc:
            raise DnsProviderError(f"{exc}{self._diagnose(zone, exc)}") from None

    def _diagnose(self, zone: str, exc: DnsProviderError) -> str:
        """What a failed update means beyond its rcode: a key that reads but may not write."""
        if "not allowed" not in str(exc):
            return ""
        try:
            self.records(zone)
        except DnsProviderError:
            return ""
        tsig = self.settings.tsig
        key = f"the key {tsig.name!r}" if tsig is not None else "an unsigned update"
        return (
            f" — reads of {zone} at {self.where} with the same key work, so {key} lacks update rights there "
            "(the server's allow-update / update ACL or TSIG-ALLOW-DNSUPDATE)"
        )

    def _apply_batches(
        self, zone: str, changes: Sequence[Change], batches: Any, progress: ProgressCallback | None
    ) -> None:
        done = 0
        sock = None
        try:
            update = next(batches, None)
            while update is not None:
                if sock is None:
                    sock = self._connect(zone)
                try:
                    mac = self._send(zone, sock, update)
                    problem: DnsProviderError | None = None
                    try:
                        following = next(batches, None)
                    except DnsProviderError as exc:  # raised once this message is answered
                        following, problem = None, exc
                    self._receive(zone, sock, update, mac)
                except DnsProviderError as exc:
                    raise DnsProviderError(
                        f"{exc}; {done} of {len(changes)} change(s) were acknowledged before this batch"
                    ) from None
                done += len(update.changes)
                if progress:
                    progress(f"{self.name}: update", done, len(changes))
                if problem is not None:
                    raise problem
                update = following
        finally:
            if sock is not None:
                sock.close()

    def _connect(self, zone: str) -> socket.socket:
        try:
            return socket.create_connection((self.host, self.port), timeout=self.timeout)
        except Exception as exc:
            raise explain(exc, self.where, f"update of {zone}") from None

    def _send(self, zone: str, sock: socket.socket, update: Update) -> bytes:
        """Send one message (signed when we have a key); its request MAC, for the answer."""
        wire, mac = (update.wire, b"") if self.key is None else sign(update.wire, self.key)
        try:
            dns.query.send_tcp(sock, wire, time.time() + self.timeout)
        except Exception as exc:
            raise explain(exc, self.where, f"update of {zone}") from None
        return mac

    def _receive(self, zone: str, sock: socket.socket, update: Update, mac: bytes) -> None:
        """Read the answer to ``update``; raise unless it says the update was applied."""
        try:
            response, _ = dns.query.receive_tcp(sock, time.time() + self.timeout, keyring=self.key, request_mac=mac)
        except Exception as exc:
            raise explain(exc, self.where, f"update of {zone}") from None
        if (
            response.id != struct.unpack_from("!H", update.wire)[0]
            or not response.flags & dns.flags.QR
            or response.opcode() != dns.opcode.UPDATE
        ):
            raise DnsProviderError(
                f"update of {zone} at {self.where}: the answer does not match our update (wrong id or opcode)"
            )
        rcode = response.rcode()
        if rcode != dns.rcode.NOERROR:
            raise DnsProviderError(_rcode_message(rcode, zone, self.where, update.changes))


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
