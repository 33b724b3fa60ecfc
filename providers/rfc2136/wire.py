"""DNS on the wire through dnspython: TSIG keys, AXFR reads, error translation.

Shared by the RFC 2136 provider and by verification, which asks servers directly.
"""

from __future__ import annotations

import contextlib
import queue
import socket
import struct
import threading
import time
from typing import Any

import dns.exception
import dns.flags
import dns.ipv6
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.tsig

from migrate.errors import DnsProviderError
from migrate.gcpause import paused_gc
from providers.dnsbase import Key, RRset


def split_hostport(value: str, default_port: int = 53) -> tuple[str, int]:
    """``host``, ``host:port``, ``[v6]:port`` -> (host, port)."""
    value = value.strip()
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else default_port
    if value.count(":") == 1:
        host, _, port = value.partition(":")
        return host, int(port)
    return value, default_port


def tsig_key(name: str, secret: str, algorithm: str = "hmac-sha256") -> dns.tsig.Key:
    try:
        return dns.tsig.Key(name, secret, algorithm)
    except Exception as exc:  # bad base64 and the like
        raise DnsProviderError(f"TSIG key {name!r}: unusable secret ({type(exc).__name__})") from None


def explain(exc: BaseException, server: str, what: str) -> DnsProviderError:
    """A one-line, actionable error for a failed exchange with ``server``."""
    if isinstance(exc, BadTransfer):
        detail = str(exc)
    elif isinstance(exc, dns.tsig.PeerError | dns.tsig.BadSignature | dns.tsig.BadTime):
        detail = "the server rejected our TSIG signature (wrong key name or secret?)"
    elif isinstance(exc, dns.message.UnknownTSIGKey | dns.exception.FormError) or (
        "TSIG" in str(exc) or "tsig" in str(exc)
    ):
        detail = f"the answer was not signed with our TSIG key (wrong key?): {exc}"
    elif isinstance(exc, ConnectionRefusedError):
        detail = "connection refused (server down?)"
    elif isinstance(exc, dns.exception.Timeout | TimeoutError):
        detail = "timed out (server down or unreachable?)"
    elif isinstance(exc, OSError):
        detail = f"network error: {exc.strerror or exc}"
    else:
        detail = f"{type(exc).__name__}: {exc}"
    return DnsProviderError(f"{what} at {server}: {detail}")


def axfr(
    host: str,
    port: int,
    zone: str,
    key: Any = None,
    timeout: float = 10.0,
) -> dict[Key, RRset]:
    """Transfer ``zone`` from host:port (TSIG-signed when a key is given) into RRsets."""
    origin = dns.name.from_text(zone.rstrip(".") + ".")
    where = f"{host}:{port}"
    with paused_gc():  # a tuple per record, an RRset per name: nothing for the GC to find
        try:
            records = transfer(host, port, origin, key, timeout)
        except TransferRefused as exc:
            rcode = dns.rcode.to_text(exc.rcode)
            hint = " (is our TSIG key allowed to transfer the zone?)" if rcode in ("REFUSED", "NOTAUTH") else ""
            raise DnsProviderError(f"zone transfer of {zone} at {where}: {rcode}{hint}") from None
        except Exception as exc:
            raise explain(exc, where, f"zone transfer of {zone}") from None
        return rrsets_from_records(records, origin)


class BadTransfer(Exception):
    """The server's transfer breaks the protocol (no opening SOA, unsigned when it must be)."""


class TransferRefused(Exception):
    def __init__(self, rcode: dns.rcode.Rcode) -> None:
        super().__init__(dns.rcode.to_text(rcode))
        self.rcode = rcode


def transfer(host: str, port: int, origin: dns.name.Name, key: Any, timeout: float) -> list[Record]:
    """An AXFR's records, TSIG-checked.

    A thread drains the socket while this one parses: a reader that parses between reads
    falls behind on a big zone, and Knot drops a transfer whose next message it cannot
    send within its ``tcp-io-timeout`` (500 ms by default) — which a loaded machine's
    Python parsing 64 KiB messages easily exceeds.
    """
    query = dns.message.make_query(origin, dns.rdatatype.AXFR)
    if key is not None:
        query.use_tsig(key)
    wire = query.to_wire()
    deadline = time.monotonic() + timeout * 3
    inbox: queue.Queue[bytes | BaseException | None] = queue.Queue()
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(struct.pack("!H", len(wire)) + wire)
        reader = threading.Thread(target=_drain, args=(sock, inbox), daemon=True)
        reader.start()
        try:
            return _parse(query, origin, inbox, deadline, key)
        finally:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            reader.join(timeout)


def _drain(sock: socket.socket, inbox: queue.Queue[bytes | BaseException | None]) -> None:
    """Put each length-prefixed message on ``inbox`` as it arrives; None at end of stream."""
    try:
        while True:
            head = _read(sock, 2)
            if head is None:
                break
            body = _read(sock, struct.unpack("!H", head)[0])
            if body is None:
                break
            inbox.put(body)
    except BaseException as exc:  # handed to the parsing thread, which raises it
        inbox.put(exc)
        return
    inbox.put(None)


def _read(sock: socket.socket, n: int) -> bytes | None:
    chunks, missing = [], n
    while missing:
        chunk = sock.recv(missing)
        if not chunk:
            return None
        chunks.append(chunk)
        missing -= len(chunk)
    return b"".join(chunks)


Record = tuple[str, int, int, str]  # (absolute lower-case name, type code, TTL, value text)


def _parse(
    query: dns.message.Message,
    origin: dns.name.Name,
    inbox: queue.Queue[bytes | BaseException | None],
    deadline: float,
    key: Any,
) -> list[Record]:
    """Every answer record of the transfer, checked message by message as dnspython would:
    same id, a response, NOERROR, opening with the zone's SOA, TSIG verified by
    ``dns.tsig.validate`` (first and last message signed, the MAC chained through all)."""
    records: list[Record] = []
    origin_text = origin.to_text().lower()
    names: dict[int, str] = {}
    tsig_ctx: Any = None
    soas = 0
    first = True
    while soas < 2:
        try:
            item = inbox.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise dns.exception.Timeout from None
        if isinstance(item, BaseException):
            raise item
        if item is None:
            raise EOFError("EOF")
        names.clear()  # compression pointers are per message
        qid, flags, rcode, answer, tsig = _walk(item, names)
        if qid != query.id or not flags & 0x8000:
            raise dns.query.BadResponse
        if key is not None and tsig is not None:  # first: a TSIG error explains a refusal
            tsig_start, rdata_at, rdlen = tsig
            owner = dns.name.from_wire(item, tsig_start)[0]
            rdata = dns.rdata.from_wire(dns.rdataclass.ANY, dns.rdatatype.TSIG, item, rdata_at, rdlen)
            tsig_ctx = dns.tsig.validate(
                item, key, owner, rdata, int(time.time()), query.mac, tsig_start, tsig_ctx, True
            )
        if rcode != dns.rcode.NOERROR:
            raise TransferRefused(dns.rcode.Rcode(rcode))
        if first and (not answer or answer[0][1] != dns.rdatatype.SOA or answer[0][0] != origin_text):
            raise BadTransfer("the transfer does not start with the zone's SOA")
        soas += sum(1 for r in answer if r[1] == dns.rdatatype.SOA and r[0] == origin_text)
        if key is not None and tsig is None:
            if first or soas >= 2:
                raise BadTransfer("the server did not sign the transfer with our TSIG key")
            tsig_ctx.update(item)  # unsigned middle messages still feed the running MAC
        records.extend(answer)
        first = False
    return records


_PLAIN = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_*")


def _name(wire: bytes, pos: int, names: dict[int, str]) -> tuple[str, int]:
    """The lower-case absolute name at ``pos`` as dnspython writes it, and where it ends.

    Plain labels are decoded here (the zone's 10,000 owner names); anything needing
    escapes goes to dnspython. ``names`` caches suffixes by offset, as pointers reuse them.
    """
    # Most owners in a zone transfer are one plain label and a pointer to a name seen before.
    length = wire[pos]
    if 0 < length < 64 and wire[pos + 1 + length] >= 0xC0:
        after = pos + 1 + length
        suffix = names.get(((wire[after] & 0x3F) << 8) | wire[after + 1])
        raw = wire[pos + 1 : after]
        if suffix is not None and suffix != "." and _PLAIN.issuperset(raw):
            text = f"{raw.decode('ascii').lower()}.{suffix}"
            names[pos] = text
            return text, after + 2
    labels: list[str] = []
    starts: list[int] = []
    end = -1
    cursor = pos
    hops = 0
    while True:
        if cursor in names:
            suffix = names[cursor]
            break
        length = wire[cursor]
        if length == 0:
            suffix = "."
            if end < 0:
                end = cursor + 1
            break
        if length >= 0xC0:
            if end < 0:
                end = cursor + 2
            cursor = ((length & 0x3F) << 8) | wire[cursor + 1]
            hops += 1
            if hops > 64:
                raise dns.name.BadPointer
            continue
        raw = wire[cursor + 1 : cursor + 1 + length]
        if length > 63 or not _PLAIN.issuperset(raw):
            text = dns.name.from_wire(wire, pos)[0].to_text().lower()
            return text, _name_end(wire, pos)
        starts.append(cursor)
        labels.append(raw.decode("ascii").lower())
        cursor += 1 + length
    if end < 0:
        end = _name_end(wire, pos)
    text = suffix
    for start, label in zip(reversed(starts), reversed(labels), strict=True):
        text = f"{label}.{text}" if text != "." else f"{label}."
        names[start] = text
    return text, end


def _name_end(wire: bytes, pos: int) -> int:
    while True:
        length = wire[pos]
        if length == 0:
            return pos + 1
        if length >= 0xC0:
            return pos + 2
        pos += 1 + length


def _walk(wire: bytes, names: dict[int, str]) -> tuple[int, int, int, list[Record], tuple[int, int, int] | None]:
    """(id, flags, rcode, answer records, TSIG position) of one message.

    A and AAAA values are formatted here, every other type by dnspython from the wire, so
    the text is exactly what dnspython would write.
    """
    qid, flags, qdcount, ancount, nscount, arcount = struct.unpack_from("!6H", wire, 0)
    pos = 12
    for _ in range(qdcount):
        pos = _name_end(wire, pos) + 4
    answer: list[Record] = []
    tsig = None
    total = ancount + nscount + arcount
    for index in range(total):
        start = pos
        name, pos = _name(wire, pos, names)
        rdtype, rdclass, ttl, rdlen = struct.unpack_from("!HHIH", wire, pos)
        pos += 10
        if pos + rdlen > len(wire):
            raise dns.exception.FormError("record runs past the message")
        if rdtype == dns.rdatatype.TSIG:
            if index != total - 1:
                raise dns.exception.FormError("TSIG is not the last record")
            tsig = (start, pos, rdlen)
        elif index < ancount:
            if rdtype == dns.rdatatype.A and rdlen == 4:
                value = socket.inet_ntoa(wire[pos : pos + 4])
            elif rdtype == dns.rdatatype.AAAA and rdlen == 16:
                value = dns.ipv6.inet_ntoa(wire[pos : pos + 16])
            else:
                value = dns.rdata.from_wire(rdclass, rdtype, wire, pos, rdlen).to_text(origin=None, relativize=False)
            answer.append((name, rdtype, ttl, value))
        pos += rdlen
    if pos != len(wire):
        raise dns.message.TrailingJunk
    return qid, flags, flags & 0x000F, answer, tsig


def rrsets_from_records(records: list[Record], origin: dns.name.Name) -> dict[Key, RRset]:
    """The zone's RRsets from a transfer's records (the closing SOA repeats the first)."""
    origin_text = origin.to_text().lower()
    soa = int(dns.rdatatype.SOA)
    groups: dict[tuple[str, int], tuple[int, list[str]]] = {}
    soa_seen = False
    for name, rdtype, ttl, value in records:
        if rdtype == soa and name == origin_text:
            if soa_seen:
                continue
            soa_seen = True
        group = groups.get((name, rdtype))
        if group is None:
            groups[(name, rdtype)] = (ttl, [value])
        else:
            group[1].append(value)
            if ttl < group[0]:
                groups[(name, rdtype)] = (ttl, group[1])
    type_text: dict[int, str] = {}
    out: dict[Key, RRset] = {}
    for (name, rdtype), (ttl, values) in groups.items():
        text = type_text.get(rdtype)
        if text is None:
            text = type_text[rdtype] = dns.rdatatype.to_text(dns.rdatatype.RdataType(rdtype))
        out[(name, text)] = RRset(name, text, ttl, tuple(values) if len(values) == 1 else tuple(sorted(set(values))))
    return out


def query_rrset(host: str, port: int, name: str, rtype: str, timeout: float) -> RRset | None:
    """One RRset as the server answers it (authoritative data, no recursion), or None."""

    where = f"{host}:{port}"
    query = dns.message.make_query(name, rtype)
    query.flags &= ~dns.flags.RD
    try:
        answer, _ = dns.query.udp_with_fallback(query, host, timeout=timeout, port=port)
    except Exception as exc:
        raise explain(exc, where, f"query {name} {rtype}") from None
    rcode = answer.rcode()
    if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
        raise DnsProviderError(f"query {name} {rtype} at {where}: {dns.rcode.to_text(rcode)}")
    rdtype = dns.rdatatype.from_text(rtype)
    for rrset in answer.answer:
        if rrset.rdtype == rdtype and rrset.name.to_text().lower() == name:
            values = tuple(sorted(r.to_text(origin=None, relativize=False) for r in rrset))
            return RRset(name, rtype, int(rrset.ttl), values)
    return None
