"""The PowerDNS Authoritative HTTP API: one PATCH per zone, applied atomically.

PowerDNS applies all RRsets of one PATCH in one database transaction, so a swing of any
size is one request and either lands whole or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

from migrate.errors import DnsProviderError
from providers.dnsbase import Capabilities, Change, DnsProvider, Key, ProgressCallback, RRset
from providers.powerdns.settings import PowerDnsSettings
from providers.rest import named_failures
from providers.rfc2136.provider import RECORD_TYPES


class PowerDnsProvider(DnsProvider):
    kind = "powerdns"
    company = "self"
    capabilities = Capabilities(record_types=RECORD_TYPES, atomic_batches=True)

    def __init__(self, name: str, settings: PowerDnsSettings, transport: httpx.BaseTransport | None = None) -> None:
        super().__init__(name, settings)
        self.base = settings.api_url.rstrip("/") + f"/api/v1/servers/{settings.server_id}"
        self._transport = transport
        self._client: httpx.Client | None = None

    @property
    def operator(self) -> str:
        return str(self.settings.operator or f"powerdns:{self.settings.api_url}")

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            key = self.settings.api_key.resolve(f"dns_providers.{self.name}.api_key")
            self._client = httpx.Client(
                headers={"X-API-Key": key}, timeout=self.settings.timeout, transport=self._transport
            )
        return self._client

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        url = self.base + path
        with named_failures(f"{self.name}: {method} {url}", DnsProviderError):
            response = self.client.request(method, url, **kwargs)
        if response.status_code >= 400 and response.status_code != 404:
            try:
                detail = response.json().get("error", response.text)
            except ValueError:
                detail = response.text
            hint = " (wrong api_key?)" if response.status_code in (401, 403) else ""
            raise DnsProviderError(f"{self.name}: {method} {url}: HTTP {response.status_code}: {detail}{hint}")
        return response

    def records(self, zone: str) -> dict[Key, RRset]:
        response = self._request("GET", f"/zones/{zone.rstrip('.')}.")
        if response.status_code == 404:
            raise DnsProviderError(f"{self.name}: zone {zone} does not exist")
        out: dict[Key, RRset] = {}
        for item in response.json().get("rrsets", []):
            values = [r["content"] for r in item.get("records", []) if not r.get("disabled")]
            if not values:
                continue
            rrset = RRset.make(item["name"], item["type"], item["ttl"], values, zone)
            out[rrset.key] = rrset
        return out

    def ensure_zone(self, zone: str) -> None:
        name = zone.rstrip(".") + "."
        if self._request("GET", f"/zones/{name}").status_code != 404:
            return
        body = {"name": name, "kind": "Native", "nameservers": [n.rstrip(".") + "." for n in self.settings.nameservers]}
        self._request("POST", "/zones", json=body)

    def _apply(self, zone: str, changes: Sequence[Change], progress: ProgressCallback | None) -> None:
        rrsets: list[dict[str, Any]] = []
        for change in changes:
            name, rtype = change.key
            if change.new is None:
                rrsets.append({"name": name, "type": rtype, "changetype": "DELETE"})
            else:
                rrsets.append(
                    {
                        "name": name,
                        "type": rtype,
                        "ttl": change.new.ttl,
                        "changetype": "REPLACE",
                        "records": [{"content": v, "disabled": False} for v in change.new.values],
                    }
                )
        self._request("PATCH", f"/zones/{zone.rstrip('.')}.", json={"rrsets": rrsets})
        if progress:
            progress(f"{self.name}: PATCH", len(changes), len(changes))

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
