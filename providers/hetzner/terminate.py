"""Terminating a hetzner target through the Hetzner Cloud API: servers off, nothing gets in.

Every server labelled with the target (``app``, ``migrate-target``, ``managed-by=migrate``,
the labels every hetzner stack sets) is powered off at once (``POST
/servers/{id}/actions/poweroff``: a cut of the power, not a shutdown), and every firewall of
the target gets an empty rule set (``POST /firewalls/{id}/actions/set_rules`` with no rules:
Hetzner then drops all inbound traffic). Nothing is deleted and no Pulumi call is made;
``migrate up --refresh`` powers the servers on and restores the rules. Tested against the
recorded shape of the Hetzner Cloud API (https://docs.hetzner.cloud), which cannot run here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

from providers.hosting import Cut, Termination
from providers.rest import bearer_client, checked_json, named_failures

if TYPE_CHECKING:
    from migrate.spec.model import ServiceSpec

API = "https://api.hetzner.cloud/v1"


def terminate(
    spec: ServiceSpec, target: str, settings: Any, transport: httpx.BaseTransport | None = None
) -> Termination:
    token = settings.token.resolve(f"targets.{target}.token")
    selector = f"app={spec.service.name},migrate-target={target},managed-by=migrate"
    cut = Cut(target, settings.location)
    with bearer_client(API, token, transport=transport) as api, named_failures(f"terminate {target} (hetzner)"):
        for server in _all(api, "/servers", "servers", selector):
            if server.get("status") != "off":
                _ok(api.post(f"/servers/{server['id']}/actions/poweroff"))
            cut.stopped[f"server:{server['name']}"] = server["id"]
        for firewall in _all(api, "/firewalls", "firewalls", selector):
            _ok(api.post(f"/firewalls/{firewall['id']}/actions/set_rules", json={"rules": []}))
            cut.stopped[f"firewall:{firewall['name']}"] = firewall["id"]
    return cut.done(
        f"{cut.count('server')} servers powered off; {cut.count('firewall')} firewalls set to deny all inbound"
    )


def _ok(response: httpx.Response) -> dict[str, Any]:
    return checked_json(response, "Hetzner", lambda body: str(body.get("error", {}).get("message", "")))


def _all(api: httpx.Client, path: str, key: str, selector: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    page: int | None = 1
    while page:
        body = _ok(api.get(path, params={"label_selector": selector, "page": page, "per_page": 50}))
        items += body.get(key, [])
        page = (body.get("meta", {}).get("pagination") or {}).get("next_page")
    return items
