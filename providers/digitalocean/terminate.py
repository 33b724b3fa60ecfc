"""Terminating a digitalocean target through the DigitalOcean API: Droplets off, nothing gets in.

Every Droplet tagged ``<service>-<target>-app`` (the tag the digitalocean stack puts on the
app's Droplets) is powered off at once (``POST /v2/droplets/{id}/actions`` ``power_off``: a
hard power-off, not a shutdown), and every inbound rule of the target's firewalls (those
applied to those Droplets or that tag) is removed (``DELETE /v2/firewalls/{id}/rules``), so nothing gets in.
Nothing is deleted and no Pulumi call is made; ``migrate up --refresh`` restores both.
Tested against the recorded shape of the DigitalOcean API
(https://docs.digitalocean.com/reference/api/), which cannot run here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

from providers.hosting import Cut, Termination
from providers.naming import slug
from providers.rest import bearer_client, checked_json, named_failures

if TYPE_CHECKING:
    from migrate.spec.model import ServiceSpec

API = "https://api.digitalocean.com/v2"


def app_tag(spec: ServiceSpec, target: str) -> str:
    """``stacks.cloud_common.base_name`` + ``-app`` (that module imports pulumi, so not used here)."""
    return f"{slug(f'{spec.service.name}-{target}', 40)}-app"


def terminate(
    spec: ServiceSpec, target: str, settings: Any, transport: httpx.BaseTransport | None = None
) -> Termination:
    token = settings.token.resolve(f"targets.{target}.token")
    tag = app_tag(spec, target)
    cut = Cut(target, settings.region)
    with bearer_client(API, token, transport=transport) as api, named_failures(f"terminate {target} (digitalocean)"):
        for droplet in _all(api, "/droplets", "droplets", {"tag_name": tag}):
            if droplet.get("status") != "off":
                _ok(api.post(f"/droplets/{droplet['id']}/actions", json={"type": "power_off"}))
            cut.stopped[f"droplet:{droplet['name']}"] = droplet["id"]
        for firewall in _all(api, "/firewalls", "firewalls", {}):
            guarded = set(firewall.get("droplet_ids") or [])
            if tag not in (firewall.get("tags") or []) and not guarded & set(cut.stopped.values()):
                continue
            rules = firewall.get("inbound_rules") or []
            if rules:
                _ok(api.request("DELETE", f"/firewalls/{firewall['id']}/rules", json={"inbound_rules": rules}))
            cut.stopped[f"firewall:{firewall['name']}"] = firewall["id"]
    return cut.done(
        f"{cut.count('droplet')} Droplets powered off; inbound rules of {cut.count('firewall')} firewalls removed"
    )


def _ok(response: httpx.Response) -> dict[str, Any]:
    return checked_json(response, "DigitalOcean")


def _all(api: httpx.Client, path: str, key: str, params: dict[str, str]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    page = 1
    while True:
        body = _ok(api.get(path, params={**params, "page": page, "per_page": 200}))
        items += body.get(key, [])
        if not (body.get("links", {}).get("pages") or {}).get("next"):
            return items
        page += 1
