"""``migrate dns delegate`` through Amazon Route 53 Domains, against moto's server mode.

moto (a real HTTP server on loopback) registers the domain, keeps its nameservers and glue,
validates them as AWS does (glue required for a nameserver inside the domain) and reports
operations SUCCESSFUL at once (AWS starts IN_PROGRESS). moto refuses any second
UpdateDomainNameservers for a domain (DuplicateRequest, even after the first finished), so
the rollback path is exercised in the Gandi test. Credentials are checked only by a second
moto started with IAM authentication on (``INITIAL_NO_AUTH_ACTION_COUNT=0``). The AWS API
lives in us-east-1 only, as the settings insist.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import boto3
import pytest

from providers.local.servers import process
from providers.local.servers.process import free_port
from tests.dns.delegation import delegate, write_delegation_spec
from tests.moto_aws import MotoAws

pytestmark = pytest.mark.slow

DOMAIN = "chirp.com"  # moto refuses TLDs AWS does not sell, such as .test
OTHER = "chirp.net"  # one domain per test: moto takes one nameserver change per domain
CONTACT = {
    "FirstName": "Ops",
    "LastName": "Chirp",
    "ContactType": "PERSON",
    "AddressLine1": "1 Rue",
    "City": "Paris",
    "CountryCode": "FR",
    "ZipCode": "75001",
    "PhoneNumber": "+33.123456789",
    "Email": "ops@chirp.com",
}


def write_spec(path: Path, domain: str, endpoint: str, *, r53: str = "", registrar: str = "") -> Path:
    """A spec with one Route 53 DNS provider and one Route 53 Domains registrar at ``endpoint``;
    ``r53`` / ``registrar`` are extra setting lines (credentials, poll interval)."""
    return write_delegation_spec(
        path,
        domain,
        "r53",
        f"""  r53:
    provider: route53
    endpoint_url: "{endpoint}"
{r53}registrars:
  aws-domains:
    provider: route53domains
    endpoint_url: "{endpoint}"
{registrar}""",
    )


CREDENTIALS = "    access_key_id: {env: AWS_ACCESS_KEY_ID}\n    secret_access_key: {env: AWS_SECRET_ACCESS_KEY}\n"


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ACCESS_KEY_ID", "testing")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        server = MotoAws("127.0.0.1", free_port(), tmp_path_factory.mktemp("moto") / "log")
        server.start()
        yield server.endpoint
        server.stop()


def test_delegate_to_route53_hosted_zone_with_glue(moto: str, tmp_path: Path) -> None:
    domains = boto3.client("route53domains", endpoint_url=moto, region_name="us-east-1")
    domains.register_domain(
        DomainName=DOMAIN, DurationInYears=2, AdminContact=CONTACT, RegistrantContact=CONTACT, TechContact=CONTACT
    )
    first = sorted(n["Name"] for n in domains.get_domain_detail(DomainName=DOMAIN)["Nameservers"])
    # The zone's new home, a Route 53 hosted zone; with an in-domain nameserver and its address
    # added, so the delegation needs glue.
    route53 = boto3.client("route53", endpoint_url=moto, region_name="us-east-1")
    zone = route53.create_hosted_zone(Name=DOMAIN, CallerReference="t")["HostedZone"]
    records = route53.list_resource_record_sets(HostedZoneId=zone["Id"])["ResourceRecordSets"]
    apex_ns = next(r for r in records if r["Type"] == "NS" and r["Name"] == DOMAIN + ".")
    hosted = sorted(r["Value"].rstrip(".") for r in apex_ns["ResourceRecords"])
    route53.change_resource_record_sets(
        HostedZoneId=zone["Id"],
        ChangeBatch={
            "Changes": [
                {
                    "Action": "UPSERT",
                    "ResourceRecordSet": {
                        "Name": DOMAIN + ".",
                        "Type": "NS",
                        "TTL": 172800,
                        "ResourceRecords": [{"Value": v + "."} for v in [*hosted[:3], f"ns1.{DOMAIN}"]],
                    },
                },
                {
                    "Action": "CREATE",
                    "ResourceRecordSet": {
                        "Name": f"ns1.{DOMAIN}.",
                        "Type": "A",
                        "TTL": 300,
                        "ResourceRecords": [{"Value": "127.0.0.53"}],
                    },
                },
            ]
        },
    )
    spec = write_spec(
        tmp_path / "migrate.yaml", DOMAIN, moto, r53=CREDENTIALS, registrar=CREDENTIALS + "    poll_interval: 0.2\n"
    )
    env = {"MIGRATE_HOME": str(tmp_path / "home")}
    to_r53 = ("--to", "r53", "--no-check", "--json")
    moved = delegate(spec, "aws-domains", *to_r53, env=env)
    assert moved.returncode == 0, moved.stderr
    doc = json.loads(moved.stdout)
    assert doc["changed"] and doc["operation"]
    assert [n["name"].rstrip(".") for n in doc["before"]] == first
    served = domains.get_domain_detail(DomainName=DOMAIN)["Nameservers"]
    assert sorted((n["Name"], tuple(n.get("GlueIps", ()))) for n in served) == sorted(
        [(h, ()) for h in hosted[:3]] + [(f"ns1.{DOMAIN}", ("127.0.0.53",))]
    )
    operation = domains.get_operation_detail(OperationId=doc["operation"])
    assert (operation["Status"], operation["Type"]) == ("SUCCESSFUL", "UPDATE_NAMESERVER")
    journal = tmp_path / "home" / "journal" / "registrar" / f"{DOMAIN}.jsonl"
    start = json.loads(journal.read_text().splitlines()[0])
    assert sorted(n["name"].rstrip(".") for n in start["before"]) == first

    again = delegate(spec, "aws-domains", *to_r53, env=env)  # already delegated there: no second operation
    assert again.returncode == 0, again.stderr
    assert not json.loads(again.stdout)["changed"]


def test_in_domain_nameserver_without_address_is_refused(moto: str, tmp_path: Path) -> None:
    domains = boto3.client("route53domains", endpoint_url=moto, region_name="us-east-1")
    domains.register_domain(
        DomainName=OTHER, DurationInYears=2, AdminContact=CONTACT, RegistrantContact=CONTACT, TechContact=CONTACT
    )
    before = domains.get_domain_detail(DomainName=OTHER)["Nameservers"]
    spec = write_spec(tmp_path / "migrate.yaml", OTHER, moto)
    result = delegate(
        spec,
        "aws-domains",
        "--ns",
        f"ns1.{OTHER}",
        "--ns",
        "ns.example.net",
        "--no-check",
        env={"MIGRATE_HOME": str(tmp_path / "home")},
    )
    assert result.returncode == 2
    assert "needs glue" in result.stderr and result.stderr.count("\n") == 1, result.stderr
    assert domains.get_domain_detail(DomainName=OTHER)["Nameservers"] == before


def test_rejected_credentials_are_one_line_and_change_nothing(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "moto-iam.log"
    pid = process.start_server(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        log,
        ready=lambda: process.port_open("127.0.0.1", port),
        what="moto with IAM auth",
        timeout=30,
        env={**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "0"},
    )
    try:
        spec = write_spec(
            tmp_path / "migrate.yaml",
            DOMAIN,
            f"http://127.0.0.1:{port}",
            registrar="    access_key_id: {env: R53D_KEY}\n    secret_access_key: {env: R53D_SECRET}\n",
        )
        result = delegate(
            spec,
            "aws-domains",
            "--ns",
            "ns1.example.net",
            "--ns",
            "ns2.example.net",
            "--no-check",
            env={"MIGRATE_HOME": str(tmp_path / "home"), "R53D_KEY": "AKIAWRONG", "R53D_SECRET": "wrong-secret-value"},
        )
    finally:
        process.stop(pid)
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "registrar aws-domains" in lines[0] and "InvalidClientTokenId" in lines[0]
    assert "check the registrar's AWS credentials" in lines[0]
    assert "wrong-secret-value" not in result.stderr + result.stdout
    assert not (tmp_path / "home" / "journal").exists()  # nothing was about to change
