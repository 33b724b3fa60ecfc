"""Ask every authoritative nameserver directly until all serve the new records.

Nameservers come from the zone's NS records (as each DNS provider serves them, addresses
from in-zone glue or the system resolver), plus the RFC 2136 primaries and any given
explicitly as ``host[:port]``. Resolvers, if listed, are asked with recursion desired.
Large record sets are checked by one zone transfer per server when a TSIG key allows it,
else by one query per record.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from migrate.dns.desired import desired_rrsets, owned_keys
from migrate.dns.journal import Journal
from migrate.errors import DnsProviderError, InputError
from migrate.gcpause import paused_gc
from providers.dnsbase import DnsProvider, Key, ProgressCallback, RRset, relative

if TYPE_CHECKING:
    from migrate.outputs import TargetOutputs
    from migrate.spec.model import ServiceSpec

AXFR_THRESHOLD = 50


@dataclass
class Server:
    host: str
    port: int
    source: str
    recursive: bool = False

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}" if self.port != 53 else self.host


@dataclass
class ServerResult:
    server: Server
    ok: bool = False
    checked: int = 0
    mismatches: list[str] = field(default_factory=list)
    error: str | None = None
    matched_after: float | None = None
    method: str = "query"

    def to_json(self) -> dict[str, Any]:
        return {
            "server": self.server.where,
            "source": self.server.source,
            "recursive": self.server.recursive,
            "ok": self.ok,
            "checked": self.checked,
            "method": self.method,
            "matched_after_seconds": (round(self.matched_after, 3) if self.matched_after is not None else None),
            "mismatches": self.mismatches[:20],
            "mismatch_count": len(self.mismatches),
            "error": self.error,
        }


@dataclass
class VerifyResult:
    zone: str
    expected: list[RRset]
    servers: list[ServerResult]
    elapsed_seconds: float
    timeout: float

    @property
    def ok(self) -> bool:
        return bool(self.servers) and all(s.ok for s in self.servers)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "zone": self.zone,
            "elapsed_seconds": round(self.elapsed_seconds, 3),
            "timeout_seconds": self.timeout,
            "expected": [r.to_json() for r in self.expected],
            "servers": [s.to_json() for s in self.servers],
        }


def expected_records(
    spec: ServiceSpec, outputs: TargetOutputs | None = None, journal: Journal | None = None
) -> tuple[list[Key], list[RRset]]:
    """(owned keys, wanted RRsets): from ``outputs``, else from the last journaled swing."""
    if outputs is not None:
        return owned_keys(spec), desired_rrsets(spec, outputs)
    journal = journal or Journal(spec.zone)
    last = journal.last()
    if last is None:
        raise InputError(
            "nothing to verify against: give --to TARGET, --outputs or --address, "
            f"or swing first (no journal at {journal.path})"
        )
    return last.owned, last.desired


def split(value: str, default_port: int = 53) -> tuple[str, int]:
    from providers.rfc2136.wire import split_hostport

    try:
        return split_hostport(value, default_port)
    except ValueError:
        raise InputError(f"not a host[:port]: {value!r}") from None


def discover(
    spec: ServiceSpec,
    providers: Sequence[DnsProvider],
    explicit: Sequence[str] = (),
    ns_port: int = 53,
) -> tuple[list[Server], list[str]]:
    """Authoritative servers for the zone, and notes on what could not be found."""
    from migrate.dns.swing import parallel

    zone = spec.zone
    servers: dict[tuple[str, int], Server] = {}
    notes: list[str] = []

    def add(host: str, port: int, source: str) -> None:
        servers.setdefault((host, port), Server(host, port, source))

    for value in [*spec.dns.nameservers, *explicit]:
        host, port = split(value)
        add(host, port, "given")
    for provider in providers:
        for value in provider.nameservers():
            host, port = split(value)
            add(host, port, f"{provider.name} primary")
    reads = parallel(list(providers), lambda p: p.delegation(zone))
    ns_names: dict[str, str] = {}
    glue: dict[str, list[str]] = {}
    for provider, read in zip(providers, reads, strict=True):
        if isinstance(read, BaseException):
            notes.append(f"{provider.name}: cannot read NS records: {read}")
            continue
        apex = read.get((zone.rstrip(".") + ".", "NS"))
        for name in apex.values if apex else ():
            ns_names.setdefault(name, provider.name)
        for (name, rtype), rrset in read.items():
            if rtype in ("A", "AAAA"):
                glue.setdefault(name, []).extend(rrset.values)
    for name, via in sorted(ns_names.items()):
        addresses = sorted(set(glue.get(name, []))) or _resolve(name, notes)
        for address in addresses:
            add(address, ns_port, f"NS {relative(name, zone)} (via {via})")
    return list(servers.values()), notes


def _resolve(name: str, notes: list[str]) -> list[str]:
    import dns.resolver

    out = []
    for rtype in ("A", "AAAA"):
        try:
            out += [r.to_text() for r in dns.resolver.resolve(name, rtype, lifetime=3)]
        except Exception:
            continue
    if not out:
        notes.append(f"NS {name}: no address found")
    return out


@paused_gc()
def verify(
    spec: ServiceSpec,
    *,
    outputs: TargetOutputs | None = None,
    expected: tuple[list[Key], list[RRset]] | None = None,
    nameservers: Sequence[str] = (),
    resolvers: Sequence[str] = (),
    discover_ns: bool = True,
    ns_port: int = 53,
    timeout: float = 60.0,
    interval: float = 0.5,
    providers: Sequence[DnsProvider] | None = None,
    keys: Sequence[Any] = (),
    progress: ProgressCallback | None = None,
) -> VerifyResult:
    """Poll every nameserver until all serve the expected records or ``timeout`` passes."""
    from migrate.dns.swing import providers_for

    started = time.monotonic()
    owned, wanted = expected or expected_records(spec, outputs)
    providers = list(providers) if providers is not None else providers_for(spec)
    servers, _notes = (
        discover(spec, providers, nameservers, ns_port)
        if discover_ns
        else ([Server(*split(v), "given") for v in nameservers], [])
    )
    for value in [*spec.dns.resolvers, *resolvers]:
        host, port = split(value)
        servers.append(Server(host, port, "resolver", recursive=True))
    if not servers:
        raise InputError(
            "no nameserver to verify: the zone has no NS records we could find; give --nameserver HOST[:PORT]"
        )
    tsig_keys = list(keys) or _provider_keys(providers)
    want = {k: () for k in owned} | {r.key: r.values for r in wanted}
    results = [ServerResult(s) for s in servers]
    deadline = started + timeout
    while True:
        pending = [r for r in results if not r.ok]
        with ThreadPoolExecutor(max_workers=min(8, len(pending)) or 1) as pool:
            list(pool.map(lambda r: _check(spec.zone, r, want, tsig_keys), pending))
        now = time.monotonic()
        for r in pending:
            if r.ok:
                r.matched_after = now - started
        if progress:
            progress("nameservers serving the new records", sum(r.ok for r in results), len(results))
        if all(r.ok for r in results) or now + interval > deadline:
            break
        time.sleep(interval)
    return VerifyResult(spec.zone, wanted, results, time.monotonic() - started, timeout)


def _provider_keys(providers: Sequence[DnsProvider]) -> list[Any]:
    keys = []
    for p in providers:
        key = getattr(p, "key", None)
        if key is not None:
            keys.append(key)
    return keys


def _check(zone: str, result: ServerResult, want: dict[Key, tuple[str, ...]], keys: Sequence[Any]) -> None:
    served: dict[Key, tuple[str, ...]] | None = None
    if len(want) > AXFR_THRESHOLD and not result.server.recursive:
        served = _by_transfer(zone, result.server, keys)
    if served is not None:
        result.method = "axfr"
    else:
        result.method = "query"
        try:
            served = _by_queries(result.server, list(want))
        except DnsProviderError as exc:
            result.error, result.ok = str(exc), False
            return
    result.error = None
    result.checked = len(want)
    result.mismatches = [
        f"{relative(k[0], zone)} {k[1]}: serves {', '.join(served.get(k, ())) or 'nothing'}, "
        f"want {', '.join(v) or 'nothing'}"
        for k, v in want.items()
        if tuple(sorted(served.get(k, ()))) != tuple(sorted(v))
    ]
    result.ok = not result.mismatches


def _by_transfer(zone: str, server: Server, keys: Sequence[Any]) -> dict[Key, tuple[str, ...]] | None:
    from providers.rfc2136.wire import axfr

    for key in [*keys, None]:
        try:
            records = axfr(server.host, server.port, zone, key, timeout=5.0)
        except DnsProviderError:
            continue
        return {k: r.values for k, r in records.items()}
    return None


def _by_queries(server: Server, keys: list[Key]) -> dict[Key, tuple[str, ...]]:
    import dns.flags
    import dns.message
    import dns.query
    import dns.rcode
    import dns.rdatatype

    from providers.rfc2136.wire import explain

    out: dict[Key, tuple[str, ...]] = {}
    for name, rtype in keys:
        query = dns.message.make_query(name, rtype)
        if not server.recursive:
            query.flags &= ~dns.flags.RD
        try:
            answer, _ = dns.query.udp_with_fallback(query, server.host, timeout=2.0, port=server.port)
        except Exception as exc:
            raise explain(exc, server.where, f"query {name} {rtype}") from None
        rcode = answer.rcode()
        if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            raise DnsProviderError(
                f"query {name} {rtype} at {server.where}: {dns.rcode.to_text(rcode)}"
                + (" (the server is not authoritative for the zone?)" if rcode == dns.rcode.REFUSED else "")
            )
        rdtype = dns.rdatatype.from_text(rtype)
        values: list[str] = []
        for rrset in answer.answer:
            if rrset.rdtype == rdtype and str(rrset.name).lower() == name:
                values += [str(r.to_text(origin=None, relativize=False)) for r in rrset]
        out[(name, rtype)] = tuple(sorted(values))
    return out
