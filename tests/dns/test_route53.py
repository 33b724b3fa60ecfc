"""Route 53 through boto3 against moto's server mode (a real HTTP server on loopback).

moto answers changes INSYNC at once (AWS starts PENDING) and serves no DNS, so these tests
check the API side: batches, rejections, what the zone holds afterwards.
"""

from __future__ import annotations

import boto3
import pytest

from migrate.dns.swing import providers_for, rollback, swing
from migrate.errors import DnsProviderError
from migrate.outputs import TargetOutputs
from providers.dnsbase import Change, Plan, RRset
from providers.local.servers.process import free_port
from tests.dns.conftest import ZONE, Cluster
from tests.moto_aws import MotoAws

pytestmark = pytest.mark.slow


@pytest.fixture
def moto(tmp_path_factory: pytest.TempPathFactory):
    directory = tmp_path_factory.mktemp("moto")
    server = MotoAws("127.0.0.1", free_port(), directory / "moto.log")
    server.start()
    yield server.endpoint
    server.stop()


@pytest.fixture
def r53(moto: str, monkeypatch: pytest.MonkeyPatch, tmp_path):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("MIGRATE_HOME", str(tmp_path))
    client = boto3.client("route53", endpoint_url=moto, region_name="us-east-1")
    zone_id = client.create_hosted_zone(Name=ZONE + ".", CallerReference="t")["HostedZone"]["Id"]
    client.change_resource_record_sets(
        HostedZoneId=zone_id,
        ChangeBatch={
            "Changes": [
                {
                    "Action": "CREATE",
                    "ResourceRecordSet": {
                        "Name": f"{n}{ZONE}.",
                        "Type": "A",
                        "TTL": 300,
                        "ResourceRecords": [{"Value": "127.10.0.1"}],
                    },
                }
                for n in ("", "www.", "mail.")
            ]
        },
    )
    return client, zone_id


def spec_for(endpoint: str):
    text = Cluster(None, None, {}).spec_text(  # type: ignore[arg-type]
        providers=["r53"],
        extra_providers=f"""  r53:
    provider: route53
    endpoint_url: {endpoint}
    access_key_id: {{env: AWS_ACCESS_KEY_ID}}
    secret_access_key: {{env: AWS_SECRET_ACCESS_KEY}}
""",
    )
    from migrate.spec.loader import parse_spec

    return parse_spec(text, "r53.yaml")


def values(client, zone_id: str, name: str) -> list[str]:
    rrs = client.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    return sorted(r["Value"] for rr in rrs if rr["Name"] == name and rr["Type"] == "A" for r in rr["ResourceRecords"])


def test_swing_and_rollback_on_route53(r53, moto):
    client, zone_id = r53
    spec = spec_for(moto)
    outputs = TargetOutputs(
        target="local-b",
        provider="local",
        public_hostname=None,
        public_addresses=["127.20.0.1", "fd00::20"],
        health_url="",
    )
    result = swing(spec, outputs)
    assert result.ok, [p.error for p in result.providers]
    assert values(client, zone_id, f"www.{ZONE}.") == ["127.20.0.1"]
    assert values(client, zone_id, f"mail.{ZONE}.") == ["127.10.0.1"]  # not owned
    rrs = client.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    assert any(rr["Type"] == "AAAA" and rr["Name"] == f"www.{ZONE}." for rr in rrs)
    assert rollback(spec).ok
    assert values(client, zone_id, f"www.{ZONE}.") == ["127.10.0.1"]
    rrs = client.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    assert not any(rr["Type"] == "AAAA" for rr in rrs)


def test_batches_respect_route53_limits(r53, moto):
    provider = providers_for(spec_for(moto), ["r53"])[0]
    creates = [Change(None, RRset.make(f"h{i}", "A", 60, ["127.1.0.1"], ZONE)) for i in range(1500)]
    assert [len(b) for b in provider.batches(creates)] == [1000, 500]
    upserts = [Change(c.new, RRset.make(c.key[0], "A", 60, ["127.1.0.2"], ZONE)) for c in creates[:600]]
    assert [len(b) for b in provider.batches(upserts)] == [500, 100]  # UPSERT counts twice
    big = [Change(None, RRset.make(f"t{i}", "TXT", 60, ['"' + "x" * 250 + '"'], ZONE)) for i in range(200)]
    sizes = [sum(len(c.new.values[0]) for c in b if c.new is not None) for b in provider.batches(big)]
    assert len(sizes) > 1 and max(sizes) <= 32_000
    provider.apply(Plan(provider.name, ZONE, creates))  # two real batches, each polled until INSYNC
    assert len(provider.records(ZONE)) >= 1500


def test_rejected_batch_names_the_record(r53, moto):
    provider = providers_for(spec_for(moto), ["r53"])[0]
    fine = Change(None, RRset.make("fresh", "A", 60, ["127.1.0.9"], ZONE))
    # Deleting a record that is not there is rejected (moto accepts some bad batches AWS
    # rejects, e.g. CREATE of an existing name, but not this one).
    clash = Change(RRset.make("ghost", "A", 60, ["127.1.0.8"], ZONE), None)
    with pytest.raises(DnsProviderError, match=r"rejected record: ghost A"):
        provider.apply(Plan(provider.name, ZONE, [fine, clash]))
    assert (f"fresh.{ZONE}.", "A") not in provider.records(ZONE)  # the batch was atomic
