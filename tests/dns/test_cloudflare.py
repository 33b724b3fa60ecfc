"""Cloudflare against a fake of its documented v4 API shape (Cloudflare cannot run here).

The fake follows the API docs: ``GET /zones?name=``, ``GET /zones/{id}`` (its assigned
``name_servers``), ``GET /zones/{id}/dns_records`` (paginated, ``result_info.total_pages``),
``POST /zones/{id}/dns_records/batch`` with
``deletes``/``patches``/``puts``/``posts`` applied in that order, Bearer token auth, the
``{"success", "errors", "result"}`` envelope, and 429 with ``Retry-After`` when rate-limited.
SRV and CAA records are written as a structured ``data`` object (SRV: priority, weight, port,
target; CAA: flags, tag, value) and read back with both ``data`` and the ``content`` string
Cloudflare derives from it (SRV: "weight port target" with ``priority`` apart; CAA:
'flags tag "value"'); a record of those types without ``data`` is refused, as the API does.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

from migrate.dns.evacuate import evacuate
from migrate.dns.swing import providers_for, swing
from migrate.errors import DnsProviderError
from migrate.outputs import TargetOutputs
from migrate.spec.loader import parse_spec
from providers.cloudflare.provider import CloudflareProvider
from providers.dnsbase import Change, Plan, RRset
from tests.dns.conftest import ZONE, Cluster, start_cluster, stop_cluster

TOKEN = "cf-test-token-123456"


class FakeCloudflare:
    def __init__(self) -> None:
        self.records: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str]] = []
        self.throttle_next = 0
        for name, rtype, content in [
            (ZONE, "A", "127.10.0.1"),
            (f"www.{ZONE}", "A", "127.10.0.1"),
            (f"mail.{ZONE}", "A", "127.30.0.1"),
            (ZONE, "MX", "mail." + ZONE),
        ]:
            self._post(
                {
                    "name": name,
                    "type": rtype,
                    "content": content,
                    "ttl": 1,
                    **({"priority": 10} if rtype == "MX" else {}),
                }
            )

    def _post(self, record: dict[str, Any]) -> None:
        rid = uuid.uuid4().hex
        self.records[rid] = _derive({"id": rid, "proxied": False, **record})

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append((request.method, request.url.path))
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return httpx.Response(
                403,
                json={"success": False, "errors": [{"code": 9109, "message": "Invalid access token"}], "result": None},
            )
        if self.throttle_next:
            self.throttle_next -= 1
            return httpx.Response(
                429,
                headers={"Retry-After": "0"},
                json={"success": False, "errors": [{"code": 971, "message": "rate limited"}]},
            )
        path = request.url.path.removeprefix("/client/v4")
        if path == "/zones":
            return self.ok([{"id": "z1", "name": ZONE}] if request.url.params["name"] == ZONE else [])
        if path == "/zones/z1" and request.method == "GET":
            return self.ok(
                {
                    "id": "z1",
                    "name": ZONE,
                    "status": "active",
                    "name_servers": ["ada.ns.cloudflare.com", "bob.ns.cloudflare.com"],
                }
            )
        if path == "/zones/z1/dns_records" and request.method == "GET":
            page, per = int(request.url.params["page"]), 2  # tiny pages: pagination is exercised
            items = list(self.records.values())
            chunk = items[(page - 1) * per : page * per]
            return self.ok(
                chunk, result_info={"page": page, "per_page": per, "total_pages": max(1, -(-len(items) // per))}
            )
        if path == "/zones/z1/dns_records/batch" and request.method == "POST":
            body = json.loads(request.content)
            for p in body.get("posts", []) + body.get("patches", []):
                if p.get("type") in ("SRV", "CAA") and "data" not in p:
                    return httpx.Response(
                        400,
                        json={
                            "success": False,
                            "errors": [{"code": 9101, "message": f"{p['type']} record needs data"}],
                        },
                    )
            for d in body.get("deletes", []):
                if d["id"] not in self.records:
                    return httpx.Response(
                        400,
                        json={"success": False, "errors": [{"code": 81044, "message": f"Record {d['id']} not found"}]},
                    )
            for d in body.get("deletes", []):
                del self.records[d["id"]]
            for p in body.get("patches", []):
                self.records[p["id"]] = _derive({**self.records[p["id"]], **p})
            for p in body.get("posts", []):
                self._post(p)
            return self.ok({})
        return httpx.Response(404, json={"success": False, "errors": [{"message": "no route"}]})

    @staticmethod
    def ok(result: Any, **extra: Any) -> httpx.Response:
        return httpx.Response(200, json={"success": True, "errors": [], "result": result, **extra})

    def served(self, name: str, rtype: str = "A") -> list[str]:
        return sorted(r["content"] for r in self.records.values() if r["name"] == name and r["type"] == rtype)

    def data(self, name: str, rtype: str) -> list[dict[str, Any]]:
        return sorted(
            (r["data"] for r in self.records.values() if r["name"] == name and r["type"] == rtype), key=json.dumps
        )


def _derive(record: dict[str, Any]) -> dict[str, Any]:
    """What Cloudflare stores for a structured record: ``content`` derived from ``data``."""
    data = record.get("data")
    if record["type"] == "SRV" and data:
        record.update(priority=data["priority"], content=f"{data['weight']} {data['port']} {data['target']}")
    elif record["type"] == "CAA" and data:
        record["content"] = f'{data["flags"]} {data["tag"]} "{data["value"]}"'
    return record


@pytest.fixture
def cf(monkeypatch: pytest.MonkeyPatch, tmp_path):
    monkeypatch.setenv("CF_TOKEN", TOKEN)
    monkeypatch.setenv("MIGRATE_HOME", str(tmp_path))
    fake = FakeCloudflare()
    spec = parse_spec(
        Cluster(None, None, {}).spec_text(  # type: ignore[arg-type]
            providers=["cf"],
            extra_providers="""  cf:
    provider: cloudflare
    api_token: {env: CF_TOKEN}
""",
        ),
        "cf.yaml",
    )
    provider = CloudflareProvider(
        "cf",
        spec.dns_providers["cf"],
        transport=httpx.MockTransport(fake.handler),
    )
    return fake, spec, provider


def test_swing_uses_one_batch_request_and_rides_out_rate_limits(cf):
    fake, spec, provider = cf
    outputs = TargetOutputs(
        target="local-b",
        provider="local",
        public_hostname=None,
        public_addresses=["127.20.0.1", "127.20.0.2", "fd00::20"],
        health_url="",
    )
    fake.throttle_next = 2
    result = swing(spec, outputs, providers=[provider])
    assert result.ok, [p.error for p in result.providers]
    assert fake.served(f"www.{ZONE}") == ["127.20.0.1", "127.20.0.2"]
    assert fake.served(ZONE) == ["127.20.0.1", "127.20.0.2"]
    assert fake.served(f"www.{ZONE}", "AAAA") == ["fd00::20"]
    assert fake.served(f"mail.{ZONE}") == ["127.30.0.1"]
    assert fake.served(ZONE, "MX") == [f"mail.{ZONE}"]
    batches = [r for r in fake.requests if r[1].endswith("/batch")]
    assert len(batches) == 1  # three RRsets, five records: one request
    assert provider.records(ZONE)[(f"www.{ZONE}.", "A")].ttl == 30


def test_delegation_is_the_zones_assigned_nameservers(cf):
    """What `migrate dns delegate --to cf` and verify's NS discovery read from Cloudflare."""
    _, _spec, provider = cf
    ns = provider.delegation(ZONE)[(f"{ZONE}.", "NS")]
    assert ns.values == ("ada.ns.cloudflare.com.", "bob.ns.cloudflare.com.")


def test_bad_token_is_a_clear_error(cf, monkeypatch: pytest.MonkeyPatch):
    _, _spec, provider = cf
    monkeypatch.setenv("CF_TOKEN", "wrong-token-000")
    provider._client = None
    with pytest.raises(DnsProviderError, match=r"Invalid access token.*check api_token"):
        provider.records(ZONE)


SRV_CAA = """
_sip._tcp 300 IN SRV 10 60 5060 sip
_sip._tcp 300 IN SRV 20 0 5061 sip2.example.net.
sip 300 IN A 127.30.0.2
@ 3600 IN CAA 0 issue "letsencrypt.org"
@ 3600 IN CAA 128 iodef "mailto:security@chirp.test"
"""


@pytest.fixture(scope="module")
def bind_zone(tmp_path_factory: pytest.TempPathFactory):
    """A real BIND serving chirp.test with SRV and CAA records (the evacuation's source)."""
    cluster = start_cluster(tmp_path_factory.mktemp("cf-bind"), {"bind": "bind"}, extra=SRV_CAA)
    yield cluster
    stop_cluster(cluster)


def test_evacuate_srv_and_caa_from_bind_to_cloudflare(bind_zone, monkeypatch, tmp_path):
    monkeypatch.setenv("CF_TOKEN", TOKEN)
    monkeypatch.setenv("MIGRATE_HOME", str(tmp_path))
    fake = FakeCloudflare()
    spec = bind_zone.spec(
        extra_providers="""  cf:
    provider: cloudflare
    api_token: {env: CF_TOKEN}
"""
    )
    bind = providers_for(spec, ["bind"])[0]
    cf = CloudflareProvider("cf", spec.dns_providers["cf"], transport=httpx.MockTransport(fake.handler))
    result = evacuate(spec, "bind", "cf", providers=[bind, cf])
    assert result.ok, result.mismatches  # read back from the fake and compared record by record
    assert not any(line.startswith(("_sip", "@ CAA")) for line in result.skipped)
    assert fake.data(f"_sip._tcp.{ZONE}", "SRV") == [
        {"port": 5060, "priority": 10, "target": f"sip.{ZONE}", "weight": 60},
        {"port": 5061, "priority": 20, "target": "sip2.example.net", "weight": 0},
    ]
    assert fake.data(ZONE, "CAA") == [
        {"flags": 0, "tag": "issue", "value": "letsencrypt.org"},
        {"flags": 128, "tag": "iodef", "value": f"mailto:security@{ZONE}"},
    ]
    records = cf.records(ZONE)
    assert records[(f"_sip._tcp.{ZONE}.", "SRV")].values == (f"10 60 5060 sip.{ZONE}.", "20 0 5061 sip2.example.net.")
    assert records[(f"{ZONE}.", "CAA")].ttl == 3600
    again = evacuate(spec, "bind", "cf", providers=[bind, cf])
    assert again.ok and again.plan is not None and not again.plan.changes  # nothing left to do

    # An SRV change patches the record in place: same id, new data.
    old = records[(f"_sip._tcp.{ZONE}.", "SRV")]
    ids = {r["id"] for r in fake.records.values() if r["type"] == "SRV"}
    new = RRset.make("_sip._tcp", "SRV", 300, ["10 60 5070 sip", "20 0 5061 sip2.example.net."], ZONE)
    cf.apply(Plan(cf.name, ZONE, [Change(old, new)]))
    assert {r["id"] for r in fake.records.values() if r["type"] == "SRV"} == ids
    assert cf.records(ZONE)[new.key].values == new.values
