"""DNS on the wire through dnspython: TSIG keys, AXFR reads, error translation.

Shared by the RFC 2136 provider and by verification, which asks servers directly.
"""

from __future__ import annotations

from typing import Any

import dns.exception
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.tsig
import dns.xfr
import dns.zone

from providers.dnsbase import DnsProviderError, Key, RRset


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
        raise DnsProviderError(
            f"TSIG key {name!r}: unusable secret ({type(exc).__name__})") from None


def explain(exc: BaseException, server: str, what: str) -> DnsProviderError:
    """A one-line, actionable error for a failed exchange with ``server``."""
    if isinstance(exc, dns.tsig.PeerError | dns.tsig.BadSignature | dns.tsig.BadTime):
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
    query = dns.message.make_query(origin, dns.rdatatype.AXFR)
    if key is not None:
        query.use_tsig(key)
    target = dns.zone.Zone(origin, relativize=False)
    where = f"{host}:{port}"
    try:
        dns.query.inbound_xfr(host, target, query=query, port=port, timeout=timeout,
                              lifetime=timeout * 3)
    except dns.xfr.TransferError as exc:
        rcode = dns.rcode.to_text(exc.rcode)
        hint = " (is our TSIG key allowed to transfer the zone?)" if rcode in (
            "REFUSED", "NOTAUTH") else ""
        raise DnsProviderError(f"zone transfer of {zone} at {where}: {rcode}{hint}") from None
    except Exception as exc:
        raise explain(exc, where, f"zone transfer of {zone}") from None
    out: dict[Key, RRset] = {}
    for name, rdataset in target.iterate_rdatasets():
        rtype = dns.rdatatype.to_text(rdataset.rdtype)
        values = tuple(sorted(str(r.to_text(origin=None, relativize=False)) for r in rdataset))
        rrset = RRset(str(name).lower(), rtype, int(rdataset.ttl), values)
        out[rrset.key] = rrset
    return out
