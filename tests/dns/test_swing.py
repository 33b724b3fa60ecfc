"""Swing, verify, roll back on real BIND and Knot servers at once (port 53 on random 127.x)."""

from __future__ import annotations

import json
from pathlib import Path

import dns.message
import dns.query
import pytest

from migrate.dns import rail
from migrate.dns.journal import Journal
from migrate.dns.swing import plan, providers_for, rollback, swing
from migrate.dns.verify import verify
from migrate.errors import MigrateError
from migrate.outputs import TargetOutputs
from tests.conftest import run_cli
from tests.dns.conftest import NEW, OLD, ZONE, Cluster, outputs_file

pytestmark = pytest.mark.slow


def served(cluster: Cluster, server: str, name: str, rtype: str = "A") -> list[str]:
    s = cluster.servers[server]
    answer = dns.query.udp(dns.message.make_query(name, rtype), s.address, port=s.port, timeout=2)
    return sorted(
        r.to_text() for rrset in answer.answer for r in rrset if rrset.rdtype == dns.rdatatype.from_text(rtype)
    )


def both(cluster: Cluster, name: str, rtype: str = "A") -> set[tuple[str, ...]]:
    return {tuple(served(cluster, s, name, rtype)) for s in cluster.servers}


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MIGRATE_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture
def reset(cluster: Cluster):
    """Put the owned records back to the old target after each test (restarting a server a
    failed test left down, so one failure does not cascade into the next tests)."""
    yield
    for server in cluster.servers.values():
        if not server.running():
            server.start()
    spec = cluster.spec()
    outputs = TargetOutputs(target="local-a", provider="local", public_addresses=[OLD], health_url="")
    for p in providers_for(spec):
        p.apply(p.plan(ZONE, [r for r in _old(spec, outputs)], None))


def _old(spec, outputs):
    from migrate.dns.desired import desired_rrsets
    from providers.dnsbase import RRset

    return [RRset(r.name, r.type, 300, r.values) for r in desired_rrsets(spec, outputs)]


def test_plan_swing_verify_rollback_on_bind_and_knot(cluster, health_base, home, tmp_path, reset):
    spec_file = cluster.write_spec(tmp_path / "migrate.yaml")
    out = outputs_file(tmp_path / "b.json", NEW, f"{health_base}/healthz")
    env = {"MIGRATE_HOME": str(home)}

    planned = run_cli("dns", "plan", "-f", str(spec_file), "--outputs", str(out), "--json", env=env)
    assert planned.returncode == 0, planned.stderr
    doc = json.loads(planned.stdout)
    assert {p["provider"] for p in doc["providers"]} == {"bind", "knot"}
    for p in doc["providers"]:
        rows = {(c["name"], c["type"], c["action"]) for c in p["plan"]["changes"]}
        assert rows == {(f"{ZONE}.", "A", "update"), (f"www.{ZONE}.", "A", "update")}
    assert doc["old_ttl"] == 300
    assert both(cluster, f"www.{ZONE}") == {(OLD,)}, "plan must change nothing"

    swung = run_cli("dns", "swing", "-f", str(spec_file), "--outputs", str(out), "--json", env=env)
    assert swung.returncode == 0, swung.stderr
    result = json.loads(swung.stdout)
    assert result["ok"] and result["old_ttl"] == 300 and result["changes"] == 4
    assert both(cluster, f"www.{ZONE}") == {(NEW,)}
    assert both(cluster, f"{ZONE}") == {(NEW,)}
    # Records the spec does not own are untouched.
    assert both(cluster, f"mail.{ZONE}") == {("127.30.0.1",)}
    assert both(cluster, ZONE, "MX") == {(f"10 mail.{ZONE}.",)}

    verified = run_cli(
        "dns", "verify", "-f", str(spec_file), "--outputs", str(out), "--timeout", "5", "--json", env=env
    )
    assert verified.returncode == 0, verified.stderr
    vdoc = json.loads(verified.stdout)
    assert vdoc["ok"] and len(vdoc["servers"]) == 2
    assert all(s["ok"] and s["checked"] == 3 for s in vdoc["servers"])

    journal = Journal(ZONE, home).entries()
    assert [e["event"] for e in journal][:3] == ["start", "before", "before"]
    assert cluster.tsig.secret not in Journal(ZONE, home).path.read_text()

    status = run_cli("dns", "status", "-f", str(spec_file), "--json", env=env)
    assert status.returncode == 0, status.stderr
    assert {p["points_at"] for p in json.loads(status.stdout)["providers"]} == {"local-b"}

    rolled = run_cli("dns", "rollback", "-f", str(spec_file), "--json", env=env)
    assert rolled.returncode == 0, rolled.stderr
    assert both(cluster, f"www.{ZONE}") == {(OLD,)}
    assert both(cluster, ZONE) == {(OLD,)}
    # After rollback, verifying the new target fails: exit 1, each server named.
    bad = run_cli("dns", "verify", "-f", str(spec_file), "--outputs", str(out), "--timeout", "0.5", "--json", env=env)
    assert bad.returncode == 1
    assert all(not s["ok"] and s["mismatches"] for s in json.loads(bad.stdout)["servers"])

    # Swing and prove it in one command: the verification is the same, at both servers.
    again = run_cli("dns", "swing", "-f", str(spec_file), "--outputs", str(out), "--verify", "--json", env=env)
    assert again.returncode == 0, again.stderr
    adoc = json.loads(again.stdout)
    assert adoc["ok"] and adoc["changes"] == 4 and adoc["verify"]["ok"]
    assert sorted(s["checked"] for s in adoc["verify"]["servers"] if s["ok"]) == [3, 3]
    assert both(cluster, f"www.{ZONE}") == {(NEW,)}


def test_unhealthy_target_is_refused(cluster, health_base, home, tmp_path, reset):
    spec_file = cluster.write_spec(tmp_path / "migrate.yaml")
    out = outputs_file(tmp_path / "b.json", NEW, f"{health_base}/broken")
    refused = run_cli("dns", "swing", "-f", str(spec_file), "--outputs", str(out), env={"MIGRATE_HOME": str(home)})
    assert refused.returncode == 1
    assert "health check" in refused.stderr and "503" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert both(cluster, f"www.{ZONE}") == {(OLD,)}
    forced = run_cli(
        "dns", "swing", "-f", str(spec_file), "--outputs", str(out), "--force", env={"MIGRATE_HOME": str(home)}
    )
    assert forced.returncode == 0, forced.stderr
    assert both(cluster, f"www.{ZONE}") == {(NEW,)}


def test_safety_rail(cluster, home):
    spec = cluster.spec()
    owned = [(f"www.{ZONE}.", "A")]
    provider = providers_for(spec, ["bind"])[0]
    from providers.dnsbase import RRset

    surprise = RRset.make("mail", "A", 300, ["127.99.0.1"], ZONE)
    wanted = [RRset.make("www", "A", 30, [NEW], ZONE), surprise]
    p = provider.plan(ZONE, wanted, owned)
    with pytest.raises(rail.SafetyRailError, match="outside the expected set"):
        rail.check(p, owned)
    with pytest.raises(rail.SafetyRailError, match="over the limit"):
        rail.check(p, owned, allow_unexpected=True, max_share=0.01)
    rail.check(p, owned, allow_unexpected=True, max_share=0.5)
    # Every owned record changing is expected: no trip.
    rail.check(provider.plan(ZONE, [wanted[0]], owned), owned)
    # A target without addresses would delete every owned address record: refused, unchanged.
    empty = TargetOutputs(target="x", provider="local", public_addresses=[], health_url="")
    with pytest.raises(rail.SafetyRailError, match="without an address"):
        swing(spec, empty)
    assert both(cluster, f"www.{ZONE}") == {(OLD,)}


def test_wrong_tsig_key_is_a_clear_error_and_changes_nothing(cluster, home, tmp_path):
    spec_text = cluster.spec_text().replace(str(cluster.secret_file), str(tmp_path / "wrong"))
    (tmp_path / "wrong").write_text("b3RoZXItc2VjcmV0LW90aGVyLXNlY3JldC1vdGhlci1zZWNyZXQ=\n")
    spec_file = tmp_path / "migrate.yaml"
    spec_file.write_text(spec_text)
    result = run_cli("dns", "swing", "-f", str(spec_file), "--address", NEW, env={"MIGRATE_HOME": str(home)})
    assert result.returncode == 1
    assert "TSIG" in result.stderr and "nothing was changed" in result.stderr
    assert "Traceback" not in result.stderr
    assert both(cluster, f"www.{ZONE}") == {(OLD,)}


def test_server_down_mid_swing_then_rerun_finishes(cluster, home, reset):
    spec = cluster.spec()
    outputs = TargetOutputs(target="local-b", provider="local", public_addresses=[NEW], health_url="")
    providers = providers_for(spec)
    knot = next(p for p in providers if p.name == "knot")
    real_apply = knot.apply

    def dies_then_apply(plan, progress=None):
        cluster.servers["knot"].kill()  # the server dies after the plan was read
        real_apply(plan, progress)

    knot.apply = dies_then_apply  # type: ignore[method-assign]
    first = swing(spec, outputs, providers=providers)
    assert not first.ok
    failed = {p.provider: p.error for p in first.providers}
    assert failed["bind"] is None and failed["knot"]
    assert any(word in failed["knot"] for word in ("refused", "reset", "network error")), failed["knot"]
    record = Journal(ZONE).last()
    assert record is not None and record.applied == {"bind"} and set(record.failed) == {"knot"}
    assert served(cluster, "bind", f"www.{ZONE}") == [NEW]

    # Verify names the server that is down; exit 1 through the API's ok flag.
    check = verify(spec, outputs=outputs, timeout=0.5)
    assert not check.ok
    assert [s.ok for s in check.servers].count(True) == 1

    cluster.servers["knot"].start()
    second = swing(spec, outputs)
    assert second.ok and second.resumed and second.swing_id == first.swing_id
    changes = {p.provider: len(p.plan.changes) for p in second.providers if p.plan}
    assert changes == {"bind": 0, "knot": 2}
    assert both(cluster, f"www.{ZONE}") == {(NEW,)}
    assert verify(spec, outputs=outputs, timeout=5).ok
    # Rollback restores the state before the *first* attempt at both servers.
    back = rollback(spec)
    assert back.ok
    assert both(cluster, f"www.{ZONE}") == {(OLD,)}


def test_prepare_lowers_ttl_and_waits(cluster, home, reset):
    spec = cluster.spec()
    outputs = TargetOutputs(target="local-b", provider="local", public_addresses=[NEW], health_url="")
    waited: list[float] = []
    result = swing(spec, outputs, prepare=True, prepare_ttl=5, sleep=waited.append)
    assert result.ok and result.prepared and waited == [300]
    assert both(cluster, f"www.{ZONE}") == {(NEW,)}
    assert plan(spec, outputs).changes == 0
    with pytest.raises(MigrateError):
        verify(spec, nameservers=[], discover_ns=False)


def test_concurrent_edit_between_plan_and_apply_is_never_overwritten(cluster, home, reset):
    """Someone else changes www after the plan was read: that server refuses the stale update.

    Each update carries "exists with exactly these values" prerequisites, so BIND and Knot
    answer NXRRSET and apply nothing of it; the other edit survives, and a fresh swing
    (a new plan, the edit let through by ``allow_unexpected``) then applies cleanly.
    """
    from providers.dnsbase import Change, Plan, RRset

    spec = cluster.spec()
    outputs = TargetOutputs(target="local-b", provider="local", public_addresses=[NEW], health_url="")
    providers = providers_for(spec, ["bind"])
    bind = providers[0]
    real_apply = bind.apply
    intruder = "127.77.0.9"

    def someone_edits_then_apply(plan, progress=None):
        old = bind.records(plan.zone)[(f"www.{ZONE}.", "A")]
        real_apply(Plan(bind.name, plan.zone, [Change(old, RRset.make("www", "A", old.ttl, [intruder], ZONE))]))
        real_apply(plan, progress)

    bind.apply = someone_edits_then_apply  # type: ignore[method-assign]
    first = swing(spec, outputs, providers=providers)
    assert not first.ok, first
    assert first.providers[0].error and "NXRRSET" in first.providers[0].error, first.providers[0].error
    assert served(cluster, "bind", f"www.{ZONE}") == [intruder]  # the other edit survives
    assert served(cluster, "bind", ZONE) == [OLD]  # nothing of the stale update was applied

    # The intruder's value points at neither target: the rail now refuses a fresh swing over
    # it until the operator says so.
    with pytest.raises(rail.SafetyRailError, match=r"www A serves 127\.77\.0\.9, which is neither target"):
        swing(spec, outputs, providers=providers_for(spec, ["bind"]))
    second = swing(spec, outputs, providers=providers_for(spec, ["bind"]), allow_unexpected=True, max_share=1.0)
    assert second.ok
    assert served(cluster, "bind", f"www.{ZONE}") == [NEW] and served(cluster, "bind", ZONE) == [NEW]


def test_the_rail_refuses_owned_records_pointing_at_neither_target_and_unset_ttls(
    cluster, health_base, home, tmp_path, reset
):
    """After a swing to B, someone points www elsewhere at BIND, then changes its TTL: swinging
    back to A is refused, naming the record and the flag; ``--allow-unexpected`` lets it
    through (journaled), ``--max-share`` still bounds it."""
    from providers.dnsbase import Change, Plan, RRset

    spec_file = cluster.write_spec(tmp_path / "migrate.yaml")
    env = {"MIGRATE_HOME": str(home)}
    to_b = outputs_file(tmp_path / "b.json", NEW, f"{health_base}/healthz")
    to_a = outputs_file(tmp_path / "a.json", OLD, f"{health_base}/healthz", target="local-a")
    swung = run_cli("dns", "swing", "-f", str(spec_file), "--outputs", str(to_b), "--json", env=env)
    assert swung.returncode == 0, swung.stderr
    bind = providers_for(cluster.spec(), ["bind"])[0]
    www = (f"www.{ZONE}.", "A")
    current = bind.plan(ZONE, [], None).current[www]
    elsewhere = RRset.make("www", "A", current.ttl, ["127.66.6.6"], ZONE)
    bind.apply(Plan(bind.name, ZONE, [Change(current, elsewhere)]))

    def swing_back(*flags: str):
        return run_cli("dns", "swing", "-f", str(spec_file), "--outputs", str(to_a), *flags, env=env)

    refused = swing_back()
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    assert "www A serves 127.66.6.6, which is neither target" in refused.stderr
    assert "--allow-unexpected" in refused.stderr
    assert served(cluster, "bind", f"www.{ZONE}") == ["127.66.6.6"], "a refused swing changes nothing"
    assert both(cluster, ZONE) == {(NEW,)}

    odd_ttl = RRset.make("www", "A", 7777, [NEW], ZONE)
    bind.apply(Plan(bind.name, ZONE, [Change(elsewhere, odd_ttl)]))
    refused = swing_back()
    assert refused.returncode != 0 and "www A TTL 7777 would become" in refused.stderr

    bounded = swing_back("--allow-unexpected", "--max-share", "0.0001")
    assert bounded.returncode != 0 and "over the limit" in bounded.stderr
    allowed = swing_back("--allow-unexpected", "--max-share", "1")
    assert allowed.returncode == 0, allowed.stderr
    assert both(cluster, f"www.{ZONE}") == {(OLD,)}
    recorded = [e for e in Journal(ZONE, home).entries() if e["event"] == "allowed"]
    assert recorded and recorded[-1]["provider"] == "bind" and "TTL 7777" in recorded[-1]["surprises"][0]


def test_a_provider_refuses_a_plan_made_for_another(cluster, home, reset):
    """A plan names the provider it was made for: handed to another, nothing is sent."""
    from migrate.errors import DnsProviderError
    from providers.dnsbase import RRset

    providers = {p.name: p for p in providers_for(cluster.spec())}
    bind, knot = providers["bind"], providers["knot"]
    before = served(cluster, "bind", f"www.{ZONE}")
    knots = knot.plan(ZONE, [RRset.make("www", "A", 60, ["127.66.0.1"], ZONE)], None)
    assert knots.changes  # a real change, that knot would apply
    with pytest.raises(DnsProviderError, match="refusing a plan made for 'knot'"):
        bind.apply(knots)
    assert served(cluster, "bind", f"www.{ZONE}") == before
