"""Cloudflare DNS through its v4 HTTP API (httpx).

Changes go through the batch endpoint (``POST /zones/{id}/dns_records/batch``: deletes,
patches, puts, posts, applied in that order in one transaction) rather than one request
per record; 429 answers are retried after ``Retry-After``. Cloudflare stores each value of
an RRset as its own record with an id, so an update patches records in place and posts or
deletes the difference. SRV and CAA travel as a structured ``data`` object (SRV: priority,
weight, port, target; CAA: flags, tag, value), converted to and from presentation format.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

from migrate.errors import DnsProviderError
from providers.cloudflare.settings import CloudflareSettings
from providers.dnsbase import Capabilities, Change, DnsProvider, Key, ProgressCallback, RRset, relative
from providers.http_retry import request_rate_limited
from providers.rest import bearer_client

AUTO_TTL = 300  # Cloudflare's ttl=1 ("automatic") is 300 s


class CloudflareProvider(DnsProvider):
    kind = "cloudflare"
    company = "cloudflare"
    capabilities = Capabilities(
        max_batch_records=200,
        atomic_batches=True,
    )

    def __init__(self, name: str, settings: CloudflareSettings, transport: httpx.BaseTransport | None = None) -> None:
        super().__init__(name, settings)
        self._transport = transport
        self._client: httpx.Client | None = None
        self._zone_ids: dict[str, str] = {}
        self._ids: dict[tuple[str, str, str], str] = {}  # (name, type, value) -> record id
        self.max_retries = 6

    @property
    def max_batch_records(self) -> int:
        return int(self.settings.batch_size)  # the plan's limit: 200 on most, more on some

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            token = self.settings.api_token.resolve(f"dns_providers.{self.name}.api_token")
            self._client = bearer_client(
                self.settings.base_url, token, timeout=self.settings.timeout, transport=self._transport
            )
        return self._client

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        response = request_rate_limited(
            self.client, method, path, retries=self.max_retries, error=DnsProviderError, who=self.name, **kwargs
        )
        try:
            body = response.json()
        except ValueError:
            body = {"success": False, "errors": [{"message": response.text[:200]}]}
        if response.status_code >= 400 or not body.get("success", False):
            errors = (
                "; ".join(f"{e.get('code', '')} {e.get('message', '')}".strip() for e in body.get("errors", []))
                or f"HTTP {response.status_code}"
            )
            hint = " (check api_token)" if response.status_code in (401, 403) else ""
            raise DnsProviderError(f"{self.name}: {method} {path}: {errors}{hint}")
        return body

    def zone_id(self, zone: str) -> str:
        if self.settings.zone_id:
            return self.settings.zone_id
        name = zone.rstrip(".")
        if name not in self._zone_ids:
            found = self._request("GET", "/zones", params={"name": name})["result"]
            if not found:
                raise DnsProviderError(f"{self.name}: no zone {name} in this account")
            self._zone_ids[name] = found[0]["id"]
        return self._zone_ids[name]

    def delegation(self, zone: str) -> dict[Key, RRset]:
        """Cloudflare assigns the zone's nameservers itself (``name_servers`` of the zone
        object) and lists no apex NS records: those are what the registrar must point at."""
        info = self._request("GET", f"/zones/{self.zone_id(zone)}")["result"]
        names = [str(n).rstrip(".") + "." for n in info.get("name_servers") or []]
        apex = zone.rstrip(".").lower() + "."
        return {(apex, "NS"): RRset.make(apex, "NS", 86400, names, zone)} if names else {}

    def records(self, zone: str) -> dict[Key, RRset]:
        zone_id = self.zone_id(zone)
        grouped: dict[Key, tuple[int, list[str]]] = {}
        self._ids.clear()
        page = 1
        while True:
            body = self._request("GET", f"/zones/{zone_id}/dns_records", params={"page": page, "per_page": 5000})
            for item in body["result"]:
                rtype = item["type"]
                if rtype not in self.capabilities.record_types:
                    continue
                content = _presentation(item)
                value = RRset.make(item["name"], rtype, 1, [content], zone)
                ttl = AUTO_TTL if item.get("ttl", 1) == 1 else int(item["ttl"])
                _, values = grouped.get(value.key, (ttl, []))
                grouped[value.key] = (ttl, values + list(value.values))
                self._ids[(value.name, rtype, value.values[0])] = item["id"]
            info = body.get("result_info") or {}
            if page >= int(info.get("total_pages", 1)):
                break
            page += 1
        return {k: RRset(k[0], k[1], ttl, tuple(sorted(v))) for k, (ttl, v) in grouped.items()}

    def _apply(self, zone: str, changes: Sequence[Change], progress: ProgressCallback | None) -> None:
        zone_id = self.zone_id(zone)
        if not self._ids:
            self.records(zone)
        done = 0
        for batch in self.batches(changes):
            body: dict[str, list[dict[str, Any]]] = {"deletes": [], "patches": [], "posts": []}
            for change in batch:
                self._add(zone, change, body)
            try:
                self._request("POST", f"/zones/{zone_id}/dns_records/batch", json=body)
            except DnsProviderError as exc:
                first = batch[0].key
                raise DnsProviderError(
                    f"{exc} — batch of {len(batch)} change(s) starting at "
                    f"{relative(first[0], zone)} {first[1]} not applied ({done} earlier were)"
                ) from None
            done += len(batch)
            if progress:
                progress(f"{self.name}: batches", done, len(changes))
        self._ids.clear()

    def _add(self, zone: str, change: Change, body: dict[str, list[dict[str, Any]]]) -> None:
        """Patch old records into new values in place; delete or post the difference."""
        old = list(change.old.values) if change.old else []
        new = list(change.new.values) if change.new else []
        name, rtype = change.key
        keep = [v for v in old if v in new]
        gone = [v for v in old if v not in new]
        added = [v for v in new if v not in old]
        pairs = min(len(gone), len(added))
        for before, after in zip(gone[:pairs], added[:pairs], strict=True):
            body["patches"].append({"id": self._id(name, rtype, before), **_record(name, rtype, after, change.new)})
        for value in gone[pairs:]:
            body["deletes"].append({"id": self._id(name, rtype, value)})
        for value in added[pairs:]:
            body["posts"].append(_record(name, rtype, value, change.new))
        if change.old is not None and change.new is not None and change.old.ttl != change.new.ttl:
            for value in keep:
                body["patches"].append({"id": self._id(name, rtype, value), **_record(name, rtype, value, change.new)})

    def _id(self, name: str, rtype: str, value: str) -> str:
        try:
            return self._ids[(name, rtype, value)]
        except KeyError:
            raise DnsProviderError(
                f"{self.name}: no record id for {name} {rtype} {value} (zone changed since it was read?)"
            ) from None

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def _presentation(item: dict[str, Any]) -> str:
    """A Cloudflare record's value in DNS presentation format (names absolute)."""
    rtype, content, data = item["type"], item.get("content", ""), item.get("data") or {}
    if rtype == "SRV":
        if data:
            target = str(data["target"]).rstrip(".") + "."
            return f"{data['priority']} {data['weight']} {data['port']} {target}"
        return f"{item.get('priority', 0)} {_dotted('SRV', content)}"
    if rtype == "CAA" and data:
        value = str(data["value"]).replace("\\", "\\\\").replace('"', '\\"')
        return f'{int(data["flags"])} {data["tag"]} "{value}"'
    if rtype == "MX":
        content = f"{item.get('priority', 0)} {content}"
    return _dotted(rtype, content)


def _structured(rtype: str, value: str) -> dict[str, Any]:
    """SRV/CAA presentation format -> the ``data`` object Cloudflare's API takes."""
    import dns.rdata
    import dns.rdataclass
    import dns.rdatatype

    rdata: Any = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.from_text(rtype), value)
    if rtype == "SRV":
        target = str(rdata.target)
        return {
            "priority": rdata.priority,
            "weight": rdata.weight,
            "port": rdata.port,
            "target": target if target == "." else target.rstrip("."),
        }
    return {"flags": rdata.flags, "tag": rdata.tag.decode(), "value": rdata.value.decode()}


def _dotted(rtype: str, content: str) -> str:
    """Cloudflare writes names without the final dot; make them absolute."""
    if rtype in ("CNAME", "NS") and not content.endswith("."):
        return content + "."
    if rtype == "SRV":  # content is "weight port target" (priority apart)
        weight, port, target = content.split()
        return f"{weight} {port} {target.rstrip('.')}."
    if rtype == "MX":
        priority, _, host = content.partition(" ")
        return f"{priority} {host if host.endswith('.') else host + '.'}"
    return content


def _record(name: str, rtype: str, value: str, rrset: RRset | None) -> dict[str, Any]:
    record: dict[str, Any] = {"name": name.rstrip("."), "type": rtype, "ttl": rrset.ttl if rrset else AUTO_TTL}
    if rtype == "MX":
        priority, _, host = value.partition(" ")
        record.update(priority=int(priority), content=host.rstrip("."))
    elif rtype in ("SRV", "CAA"):
        record["data"] = _structured(rtype, value)
    elif rtype in ("CNAME", "NS"):
        record["content"] = value.rstrip(".")
    else:
        record["content"] = value
    return record
