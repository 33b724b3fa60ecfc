"""Gandi through its v5 HTTP API (httpx): read and replace a domain's nameservers.

``GET /domain/domains/{fqdn}/nameservers`` answers a JSON list of host names;
``PUT`` on the same path with ``{"nameservers": [...]}`` replaces them (202 Accepted).
Auth is ``Authorization: Bearer <personal access token>``; ``?sharing_id=`` picks the
organization. Errors come as ``{"code", "message", "object", "cause"}`` or, for bad input,
``{"status": "error", "errors": [{"name", "description"}]}``. After the PUT the nameservers
are read back until Gandi reports the new set. This adapter does not create glue (Gandi's
``/hosts`` objects): an in-domain nameserver must already exist there.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from migrate.errors import RegistrarError
from providers.gandi.settings import GandiSettings
from providers.http_retry import request_rate_limited
from providers.registrarbase import Nameserver, Registrar, RegistrarCapabilities, StatusCallback, same_names
from providers.rest import bearer_client


class GandiRegistrar(Registrar):
    kind = "gandi"
    company = "gandi"
    capabilities = RegistrarCapabilities(glue=False, min_nameservers=1, max_nameservers=10)

    def __init__(self, name: str, settings: GandiSettings, transport: httpx.BaseTransport | None = None) -> None:
        super().__init__(name, settings)
        self._transport = transport
        self._client: httpx.Client | None = None
        self.max_retries = 5
        self.poll_interval = 1.0

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            token = self.settings.token.resolve(f"registrars.{self.name}.token")
            params = {"sharing_id": self.settings.sharing_id} if self.settings.sharing_id else {}
            self._client = bearer_client(
                self.settings.base_url.rstrip("/"),
                token,
                timeout=self.settings.timeout,
                transport=self._transport,
                params=params,
            )
        return self._client

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        who = f"registrar {self.name}"
        response = request_rate_limited(
            self.client, method, path, retries=self.max_retries, error=RegistrarError, who=who, **kwargs
        )
        if response.status_code >= 400:
            raise RegistrarError(f"registrar {self.name}: {method} {path}: {_error(response)}")
        try:
            return response.json() if response.content else None
        except ValueError:
            return None

    def nameservers(self, domain: str) -> list[Nameserver]:
        body = self._request("GET", _path(domain))
        if not isinstance(body, list):
            raise RegistrarError(
                f"registrar {self.name}: unexpected answer for the nameservers of {domain}: {str(body)[:200]}"
            )
        return sorted(Nameserver.make(str(n)) for n in body)

    def set_nameservers(
        self, domain: str, nameservers: list[Nameserver], status: StatusCallback | None = None
    ) -> str | None:
        names = [n.name.rstrip(".") for n in nameservers]
        self._request("PUT", _path(domain), json={"nameservers": names})
        deadline = time.monotonic() + self.settings.timeout
        while True:
            now = self.nameservers(domain)
            if same_names(now, nameservers):
                return None
            if time.monotonic() > deadline:
                raise RegistrarError(
                    f"registrar {self.name}: accepted the change but still reports "
                    f"{', '.join(n.name for n in now)} after {self.settings.timeout:.0f}s",
                    maybe_applied=True,
                )
            if status:
                status(f"{self.name}: waiting for the new nameservers to show")
            time.sleep(self.poll_interval)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def _path(domain: str) -> str:
    return f"/domain/domains/{domain.rstrip('.').lower()}/nameservers"


def _error(response: httpx.Response) -> str:
    """Gandi's error body as one line, with a hint for authentication failures."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    parts: list[str] = []
    if isinstance(body, dict):
        if body.get("message"):
            parts.append(str(body["message"]))
        for e in body.get("errors") or []:
            if isinstance(e, dict):
                parts.append(f"{e.get('name', '')}: {e.get('description', '')}".strip(": "))
    text = "; ".join(parts) or response.text[:200].strip() or response.reason_phrase
    hint = " (check the registrar's token)" if response.status_code in (401, 403) else ""
    return f"HTTP {response.status_code}: {' '.join(text.split())}{hint}"
