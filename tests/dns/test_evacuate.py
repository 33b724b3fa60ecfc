"""Zone evacuation from BIND to Knot (RFC 2136) and to PowerDNS (HTTP API), verified.

Also: the copy is checked by asking the destination server itself over DNS, and the parent
zone's delegation is checked against a real parent server (BIND serving ``test``).
"""

from __future__ import annotations

import json
from pathlib import Path

import dns.message
import dns.query
import pytest

from migrate.dns.evacuate import evacuate
from migrate.dns.parent_zone import check_delegation
from providers.local.servers.dns import ZoneSeed, free_loopback_address, launcher
from providers.local.servers.pdns import PowerDnsServer
from tests.conftest import run_cli
from tests.dns.conftest import ZONE, start_cluster, stop_cluster

pytestmark = pytest.mark.slow

RICH = """
@ 300 IN A 127.10.0.1
@ 300 IN AAAA fd00::10
www 120 IN A 127.10.0.1
www 120 IN A 127.10.0.2
blog 300 IN CNAME www
@ 3600 IN MX 10 mail
@ 3600 IN MX 20 mail2.example.net.
mail 300 IN A 127.30.0.1
@ 300 IN TXT "v=spf1 mx -all"
long 300 IN TXT "part one of a long text" "part two of it"
_sip._tcp 300 IN SRV 10 60 5060 sip
sip 300 IN A 127.30.0.2
@ 300 IN CAA 0 issue "letsencrypt.org"
*.wild 300 IN A 127.40.0.1
sub 300 IN NS ns.sub
ns.sub 300 IN A 127.50.0.1
host 300 IN SSHFP 1 1 0123456789abcdef0123456789abcdef01234567
ptr 300 IN PTR www
"""


@pytest.fixture(scope="module")
def evac(tmp_path_factory: pytest.TempPathFactory):
    directory = tmp_path_factory.mktemp("evac")
    cluster = start_cluster(directory, {"bind": "bind", "knot": "knot"}, extra=RICH)
    # Knot starts with the zone holding only its own SOA/NS: the copy must fill it.
    knot = cluster.servers["knot"]
    knot.stop()
    for path in (knot.directory / f"{ZONE}.zone", knot.directory / "db"):
        if path.is_dir():
            import shutil

            shutil.rmtree(path)
        else:
            path.unlink()
    knot.zone = ZoneSeed(ZONE, [("ns2", knot.address)])
    knot.start()
    address = free_loopback_address()
    pdns = PowerDnsServer(
        directory=directory / "pdns",
        zone=ZoneSeed("other.test", [("ns1", address)]),
        tsig=cluster.tsig,
        address=address,
        port=53,
        api_port=8081,
    )
    pdns.start()
    (directory / "pdns.key").write_text(pdns.api_key)
    parent_address = free_loopback_address()
    parent = launcher("bind")(
        directory=directory / "parent",
        tsig=cluster.tsig,
        address=parent_address,
        zone=ZoneSeed(
            "test",
            [("a.nic", parent_address)],
            extra=f"chirp 300 IN NS ns2.chirp.test.\nns2.chirp 300 IN A {knot.address}\n",
        ),
    )
    parent.start()
    extra = f"""  pdns:
    provider: powerdns
    api_url: {pdns.api_url}
    api_key: {{file: {directory / "pdns.key"}}}
    nameservers: [ns1.pdns.example.net]
"""
    yield cluster, extra, pdns, parent
    parent.stop()
    pdns.stop()
    stop_cluster(cluster)


def ask(address: str, name: str, rtype: str) -> list[str]:
    answer = dns.query.udp(dns.message.make_query(name, rtype), address, port=53, timeout=2)
    return sorted(r.to_text() for rrset in answer.answer for r in rrset if dns.rdatatype.to_text(rrset.rdtype) == rtype)


def test_evacuate_bind_to_knot_copies_every_type(evac, tmp_path: Path):
    cluster, extra, _, parent = evac
    spec_file = cluster.write_spec(tmp_path / "migrate.yaml", extra_providers=extra)
    result = run_cli("dns", "evacuate", "-f", str(spec_file), "--from", "bind", "--to", "knot", "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["ok"] and not doc["mismatches"]
    assert doc["rrsets_copied"] >= 17
    assert doc["registrar_nameservers"] == [f"ns2.{ZONE}."]
    knot = cluster.servers["knot"].address
    assert ask(knot, f"www.{ZONE}", "A") == ["127.10.0.1", "127.10.0.2"]
    assert ask(knot, f"_sip._tcp.{ZONE}", "SRV") == [f"10 60 5060 sip.{ZONE}."]
    assert ask(knot, f"x.wild.{ZONE}", "A") == ["127.40.0.1"]
    assert ask(knot, f"long.{ZONE}", "TXT") == ['"part one of a long text" "part two of it"']
    assert ask(knot, ZONE, "CAA") == ['0 issue "letsencrypt.org"']
    # Knot keeps its own NS and glue.
    assert ask(knot, ZONE, "NS") == [f"ns2.{ZONE}."]
    # A second run finds nothing to do.
    again = evacuate(cluster.spec(extra_providers=extra), "bind", "knot")
    assert again.ok and again.plan is not None and not again.plan.changes

    delegated = run_cli("dns", "delegation", "-f", str(spec_file), "--to", "knot", "--parent", parent.address, "--json")
    assert delegated.returncode == 0, delegated.stderr
    assert json.loads(delegated.stdout)["parents"][parent.address] == [f"ns2.{ZONE}."]
    wrong = check_delegation(ZONE, ["ns1.pdns.example.net"], [parent.address])
    assert not wrong.ok


def test_evacuate_bind_to_powerdns_api_creates_zone(evac, tmp_path: Path):
    cluster, extra, pdns, _ = evac
    spec = cluster.spec(extra_providers=extra)
    result = evacuate(spec, "bind", "pdns")
    assert result.ok, result.mismatches
    assert result.nameservers == ["ns1.pdns.example.net."]
    assert ask(pdns.address, f"www.{ZONE}", "A") == ["127.10.0.1", "127.10.0.2"]
    assert ask(pdns.address, ZONE, "MX") == [f"10 mail.{ZONE}.", "20 mail2.example.net."]
    assert ask(pdns.address, f"host.{ZONE}", "SSHFP") == ["1 1 0123456789abcdef0123456789abcdef01234567"]


def test_swing_through_powerdns_api(evac, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A swing where one DNS provider is PowerDNS's API, the other BIND by RFC 2136."""
    from migrate.dns.swing import swing
    from migrate.dns.verify import verify
    from migrate.outputs import TargetOutputs

    cluster, extra, pdns, _ = evac
    monkeypatch.setenv("MIGRATE_HOME", str(tmp_path))
    spec = cluster.spec(extra_providers=extra, providers=["bind", "pdns"])
    evacuate(spec, "bind", "pdns")
    outputs = TargetOutputs(
        target="local-b", provider="local", public_addresses=["127.20.0.9"], health_url="", public_hostname=None
    )
    result = swing(spec, outputs)
    assert result.ok
    assert ask(pdns.address, f"www.{ZONE}", "A") == ["127.20.0.9"]
    check = verify(spec, outputs=outputs, nameservers=[pdns.address], timeout=1)
    by_server = {s.server.host: s for s in check.servers}
    assert by_server[pdns.address].ok and by_server[cluster.servers["bind"].address].ok
    # The zone's NS records still name Knot (ns2), which this swing did not update:
    # verify finds it through NS discovery and reports that it disagrees.
    knot = by_server[cluster.servers["knot"].address]
    assert not knot.ok and knot.server.source.startswith("NS ns2")
    assert not check.ok


def test_prune_goes_through_the_rail_and_the_journal(evac, tmp_path: Path):
    """--prune deletes what the source lacks only within --max-share of the destination's
    RRsets, journals what it deletes, and `dns rollback --swing ID` restores it."""
    from migrate.dns.swing import providers_for
    from providers.dnsbase import Change, Plan, RRset

    cluster, extra, _, _ = evac
    env = {"MIGRATE_HOME": str(tmp_path / "home")}
    spec_file = cluster.write_spec(tmp_path / "migrate.yaml", extra_providers=extra)
    assert run_cli("dns", "evacuate", "-f", str(spec_file), "--from", "bind", "--to", "knot", env=env).returncode == 0
    knot = next(p for p in providers_for(cluster.spec()) if p.name == "knot")
    stale = [RRset.make(f"stale{i}", "A", 300, [f"127.60.0.{i}"], ZONE) for i in range(4)]
    knot.apply(Plan(knot.name, ZONE, [Change(None, r) for r in stale]))
    size = len(knot.records(ZONE))

    args = ("dns", "evacuate", "-f", str(spec_file), "--from", "bind", "--to", "knot", "--prune")
    refused = run_cli(*args, env=env)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert f"would delete 4 of its {size} RRsets (stale0 A, stale1 A" in refused.stderr
    assert ask(cluster.servers["knot"].address, f"stale0.{ZONE}", "A") == ["127.60.0.0"]

    pruned = run_cli(*args, "--max-share", "0.5", "--json", env=env)
    assert pruned.returncode == 0, pruned.stderr
    doc = json.loads(pruned.stdout)
    assert sorted(c["name"] for c in doc["changes"] if c["action"] == "delete") == [
        f"stale{i}.{ZONE}." for i in range(4)
    ]
    assert ask(cluster.servers["knot"].address, f"stale0.{ZONE}", "A") == []

    undo = run_cli("dns", "rollback", "-f", str(spec_file), "--swing", doc["journal_id"], env=env)
    assert undo.returncode == 0, undo.stderr
    assert ask(cluster.servers["knot"].address, f"stale3.{ZONE}", "A") == ["127.60.0.3"]
    knot.apply(Plan(knot.name, ZONE, [Change(r, None) for r in stale]))
