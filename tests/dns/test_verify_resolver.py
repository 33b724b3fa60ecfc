"""``migrate dns verify --resolver`` through a real caching resolver (unbound) on loopback.

unbound stubs chirp.test to a BIND and a Knot server. The records carry a 6 s TTL; the
resolver's cache is warmed with the old answer before the swing, so right after it the
authoritative servers serve the new data while the resolver still hands out the old one:
verify with a short timeout must say so (exit 1), and with a timeout past the TTL must
see the resolver catch up (exit 0).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import dns.message
import dns.query
import pytest

from migrate.dns.swing import swing
from migrate.dns.verify import verify
from migrate.outputs import TargetOutputs
from providers.local.servers.dns import free_loopback_address
from providers.local.servers.unbound import UnboundServer
from tests.conftest import run_cli
from tests.dns.conftest import NEW, OLD, ZONE, Cluster, start_cluster, stop_cluster

pytestmark = pytest.mark.slow

TTL = 6
SHORT = f"""
@ {TTL} IN A {OLD}
www {TTL} IN A {OLD}
"""


@pytest.fixture(scope="module")
def resolved(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cluster, UnboundServer]]:
    directory = tmp_path_factory.mktemp("resolver")
    cluster = start_cluster(directory, {"bind": "bind", "knot": "knot"}, extra=SHORT)
    try:
        unbound = UnboundServer(
            directory / "unbound",
            free_loopback_address(),
            stubs={ZONE: [f"{s.address}@{s.port}" for s in cluster.servers.values()]},
        )
        unbound.start()
        try:
            yield cluster, unbound
        finally:
            unbound.stop()
    finally:
        stop_cluster(cluster)


def ask(server: UnboundServer, name: str) -> list[str]:
    answer = dns.query.udp(dns.message.make_query(name, "A"), server.host, port=server.port, timeout=2)
    return sorted(r.to_text() for rrset in answer.answer for r in rrset if rrset.rdtype == 1)


def test_verify_waits_for_the_resolver_cache(resolved, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cluster, unbound = resolved
    monkeypatch.setenv("MIGRATE_HOME", str(tmp_path / "home"))
    text = cluster.spec_text().replace("ttl: 30", f"ttl: {TTL}")
    spec_file = tmp_path / "migrate.yaml"
    spec_file.write_text(text)
    assert ask(unbound, f"www.{ZONE}") == [OLD]  # the cache now holds the old answer
    from migrate.spec.loader import parse_spec

    outputs = TargetOutputs(
        target="local-b", provider="local", public_hostname=None, public_addresses=[NEW], health_url=""
    )
    result = swing(parse_spec(text, str(spec_file)), outputs)
    assert result.ok, [p.error for p in result.providers]

    # Right away (in-process: a CLI start-up under load could outlast the cached answer).
    early = verify(parse_spec(text, str(spec_file)), outputs=outputs, resolvers=[unbound.where], timeout=0.5)
    assert not early.ok
    rows = {s.server.where: s for s in early.servers}
    assert rows[unbound.where].server.recursive and not rows[unbound.where].ok
    assert any(OLD in m for m in rows[unbound.where].mismatches)
    for server in cluster.servers.values():  # the authoritative servers already agree
        assert rows[server.address].ok, rows[server.address]

    base = ("dns", "verify", "-f", str(spec_file), "--address", NEW, "--resolver", unbound.where, "--json")
    env = {"MIGRATE_HOME": str(tmp_path / "home")}
    later = run_cli(*base, "--timeout", str(TTL + 6), env=env)
    assert later.returncode == 0, later.stdout + later.stderr
    served = {s["server"]: s for s in json.loads(later.stdout)["servers"]}
    assert served[unbound.where]["ok"] and served[unbound.where]["recursive"]
    assert ask(unbound, f"www.{ZONE}") == [NEW]
