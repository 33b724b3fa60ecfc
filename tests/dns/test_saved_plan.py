"""Saved plans and rollback over later edits, on real BIND, Knot and PowerDNS (its HTTP API).

``dns plan --out`` then ``dns swing --plan`` applies exactly the reviewed change set; an
edit made at one server in between is refused (exit 1, the record named, nothing changed
anywhere); rollback over an edit made after the swing needs ``--force``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import dns.message
import dns.query
import dns.rdatatype
import pytest

from migrate.dns.swing import providers_for
from providers.dnsbase import Change, Plan, RRset
from providers.local.servers.pdns import PowerDnsServer
from tests.conftest import run_cli
from tests.dns.conftest import NEW, OLD, ZONE, Cluster, outputs_file, start_cluster, stop_cluster

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cluster, str]]:
    """BIND and Knot over RFC 2136, PowerDNS through its HTTP API (read-compare-write)."""
    directory = tmp_path_factory.mktemp("dns-plan")
    cluster = start_cluster(directory, {"bind": "bind", "knot": "knot", "pdns": "pdns"})
    pdns = cluster.servers["pdns"]
    assert isinstance(pdns, PowerDnsServer)
    (directory / "pdns.key").write_text(pdns.api_key)
    api = f"""  pdnsapi:
    provider: powerdns
    api_url: {pdns.api_url}
    api_key: {{file: {directory / "pdns.key"}}}
"""
    yield cluster, api
    stop_cluster(cluster)


PROVIDERS = ["bind", "knot", "pdnsapi"]


def served(cluster: Cluster, server: str, name: str) -> tuple[int, list[str]]:
    s = cluster.servers[server]
    answer = dns.query.tcp(dns.message.make_query(name, "A"), s.address, port=s.port, timeout=3)
    for rrset in answer.answer:
        if rrset.rdtype == dns.rdatatype.A:
            return rrset.ttl, sorted(r.to_text() for r in rrset)
    return 0, []


def edit(spec, provider: str, name: str, ttl: int, values: list[str]) -> None:
    """An operator's edit at one provider, outside migrate's swing."""
    p = next(x for x in providers_for(spec) if x.name == provider)
    current = p.records(ZONE)
    new = RRset.make(name, "A", ttl, values, ZONE)
    p.apply(Plan(p.name, ZONE, [Change(current.get(new.key), new)]))


@pytest.fixture
def env(trio, tmp_path: Path) -> Iterator[dict[str, str]]:
    cluster, api = trio
    yield {"MIGRATE_HOME": str(tmp_path / "home")}
    spec = cluster.spec(extra_providers=api, providers=PROVIDERS)
    for p in providers_for(spec):  # back to the old target, TTL 300, for the next test
        current = p.records(ZONE)
        changes = []
        for name in (f"{ZONE}.", f"www.{ZONE}."):
            new = RRset.make(name, "A", 300, [OLD], ZONE)
            if not new.same_data(current.get(new.key)):
                changes.append(Change(current.get(new.key), new))
        old_aaaa = current.get((f"www.{ZONE}.", "AAAA"))
        if old_aaaa is not None:
            changes.append(Change(old_aaaa, None))
        if changes:
            p.apply(Plan(p.name, ZONE, changes))


def test_swing_applies_the_saved_plan_and_refuses_one_that_moved(trio, env, tmp_path: Path):
    cluster, api = trio
    spec_file = cluster.write_spec(tmp_path / "migrate.yaml", extra_providers=api, providers=PROVIDERS)
    out = outputs_file(tmp_path / "b.json", NEW, "")
    plan_file = tmp_path / "plan.json"

    planned = run_cli("dns", "plan", "-f", str(spec_file), "--outputs", str(out), "--out", str(plan_file), env=env)
    assert planned.returncode == 0, planned.stderr
    saved = json.loads(plan_file.read_text())
    assert [p["provider"] for p in saved["providers"]] == PROVIDERS
    assert all(p["fingerprint"].startswith("sha256:") for p in saved["providers"])
    change = next(c for c in saved["providers"][0]["changes"] if c["name"] == f"www.{ZONE}.")
    assert (change["old_values"], change["old_ttl"], change["new_values"]) == ([OLD], 300, [NEW])
    assert plan_file.stat().st_mode & 0o077 == 0

    # Someone edits www at Knot after the review: the plan no longer describes Knot.
    edit(cluster.spec(), "knot", "www", 300, ["127.99.0.9"])
    refused = run_cli("dns", "swing", "-f", str(spec_file), "--plan", str(plan_file), env=env)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert f"knot: www A: expected {OLD} (ttl 300), serves 127.99.0.9 (ttl 300)" in refused.stderr
    assert "Traceback" not in refused.stderr
    for server in ("bind", "knot", "pdns"):  # nothing changed anywhere
        assert served(cluster, server, ZONE) == (300, [OLD])
    assert served(cluster, "knot", f"www.{ZONE}")[1] == ["127.99.0.9"]

    # A TTL-only edit moves a record too (the plan saw 300).
    edit(cluster.spec(), "knot", "www", 300, [OLD])
    edit(cluster.spec(), "bind", "@", 5, [OLD])
    ttl = run_cli("dns", "swing", "-f", str(spec_file), "--plan", str(plan_file), env=env)
    assert ttl.returncode == 1 and f"bind: @ A: expected {OLD} (ttl 300), serves {OLD} (ttl 5)" in ttl.stderr
    edit(cluster.spec(), "bind", "@", 300, [OLD])

    # Back to what the plan saw: it is applied exactly, at all three.
    swung = run_cli("dns", "swing", "-f", str(spec_file), "--plan", str(plan_file), "--json", env=env)
    assert swung.returncode == 0, swung.stderr
    doc = json.loads(swung.stdout)
    assert doc["ok"] and doc["target"] == "local-b" and doc["changes"] == 6
    for server in ("bind", "knot", "pdns"):
        assert served(cluster, server, f"www.{ZONE}") == (30, [NEW])
    journal = (Path(env["MIGRATE_HOME"]) / "journal" / "dns" / f"{ZONE}.jsonl").read_text().splitlines()
    start = json.loads(journal[0])
    assert start["event"] == "start" and set(start["saved_plan"]) == set(PROVIDERS)

    # Inputs that disagree: --to names another target than the plan or the outputs file.
    assert (
        run_cli("dns", "swing", "-f", str(spec_file), "--plan", str(plan_file), "--to", "local-a", env=env).returncode
        == 2
    )
    mixed = run_cli("dns", "plan", "-f", str(spec_file), "--to", "local-a", "--outputs", str(out), env=env)
    assert mixed.returncode == 2 and "local-b" in mixed.stderr


def test_rollback_over_a_later_edit_needs_force(trio, env, tmp_path: Path):
    cluster, api = trio
    spec_file = cluster.write_spec(tmp_path / "migrate.yaml", extra_providers=api, providers=PROVIDERS)
    out = outputs_file(tmp_path / "b.json", NEW, "")
    assert run_cli("dns", "swing", "-f", str(spec_file), "--outputs", str(out), env=env).returncode == 0

    edit(cluster.spec(), "pdns", "www", 60, ["127.77.0.7"])  # an edit after the swing, at PowerDNS
    refused = run_cli("dns", "rollback", "-f", str(spec_file), env=env)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert f"pdnsapi: www A: expected {NEW} (ttl 30), serves 127.77.0.7 (ttl 60)" in refused.stderr
    assert served(cluster, "bind", ZONE) == (30, [NEW]), "a refused rollback changes nothing"

    forced = run_cli("dns", "rollback", "-f", str(spec_file), "--force", env=env)
    assert forced.returncode == 0, forced.stderr
    for server in ("bind", "knot", "pdns"):
        assert served(cluster, server, f"www.{ZONE}") == (300, [OLD])
        assert served(cluster, server, ZONE) == (300, [OLD])


def test_interrupted_swing_reports_what_each_server_serves(trio, env, tmp_path: Path, monkeypatch):
    """Knot's third batch is refused (a record edited while the swing runs): the swing says
    how many changes Knot acknowledged and serves, the journal holds each batch, and
    ``dns status`` shows Knot half-swung with counts."""
    from migrate.dns.journal import Journal
    from migrate.dns.swing import swing
    from migrate.outputs import TargetOutputs

    cluster, _ = trio
    monkeypatch.setenv("MIGRATE_HOME", env["MIGRATE_HOME"])
    names = [f"n{i}" for i in range(3000)]
    records = "".join(f"    - name: {n}\n      type: A\n" for n in names)
    spec = cluster.spec(records=records, providers=["bind", "knot"])
    seed = [RRset.make(n, "A", 300, [OLD], ZONE) for n in names]
    for p in providers_for(spec):
        current = p.records(ZONE)
        p.apply(
            Plan(p.name, ZONE, [Change(current.get(r.key), r) for r in seed if not r.same_data(current.get(r.key))])
        )
    last = sorted(f"{n}.{ZONE}." for n in names)[-1].split(".")[0]
    edited: list[int] = []

    def progress(what: str, done: int, total: int) -> None:
        if what.startswith("knot") and not edited:
            edited.append(done)
            edit(cluster.spec(), "knot", last, 300, ["127.99.0.1"])  # lands before Knot's 3rd batch

    outputs = TargetOutputs(target="local-b", provider="local", public_addresses=[NEW], health_url="")
    result = swing(spec, outputs, progress=progress)
    assert not result.ok
    by = {p.provider: p for p in result.providers}
    assert by["bind"].applied and by["bind"].error is None
    knot = by["knot"]
    assert knot.error and "were acknowledged before this batch" in knot.error
    assert knot.served_new is not None and edited[0] <= knot.served_new < 3000
    assert f"{last} A" in knot.not_served and len(knot.not_served) == 3000 - knot.served_new
    acked = Journal(ZONE).swings()[-1].acknowledged
    assert acked["bind"] == 3000 and acked["knot"] == knot.served_new

    spec_file = tmp_path / "migrate.yaml"
    spec_file.write_text(cluster.spec_text(records=records, providers=["bind", "knot"]))
    shown = run_cli("dns", "status", "-f", str(spec_file), "--json", env=env)
    assert shown.returncode == 0, shown.stderr
    rows = {p["provider"]: p for p in json.loads(shown.stdout)["providers"]}
    assert rows["bind"]["state"] == "swung" and rows["bind"]["points_at"] == "local-b"
    assert rows["knot"]["state"] == "half-swung" and rows["knot"]["counts"]["local-b"] == knot.served_new
    assert "records" not in rows["knot"]  # a summary unless --records


def test_prepare_announces_its_wait_before_lowering(trio, env, monkeypatch):
    from migrate.dns.swing import swing
    from migrate.outputs import TargetOutputs

    cluster, _ = trio
    monkeypatch.setenv("MIGRATE_HOME", env["MIGRATE_HOME"])
    spec = cluster.spec(providers=["bind", "knot"])
    events: list[tuple[str, object]] = []

    def announce(message: str) -> None:
        events.append(("announce", served(cluster, "bind", ZONE)))
        assert "waiting 300s" in message and "lowering 4 owned record(s) to TTL 30s" in message

    outputs = TargetOutputs(target="local-b", provider="local", public_addresses=[NEW], health_url="")
    result = swing(spec, outputs, prepare=True, announce=announce, sleep=lambda s: events.append(("sleep", s)))
    assert result.ok and result.waited_seconds == 300
    assert events[0] == ("announce", (300, [OLD])), "announced before any TTL was lowered"
    assert events[1] == ("sleep", 300)
    assert served(cluster, "knot", f"www.{ZONE}") == (30, [NEW])
