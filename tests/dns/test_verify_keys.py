"""``dns verify``: each provider's TSIG key goes only to that provider's servers, TTLs are
compared, and a server answering wrongly is reported at once (not after the timeout).

Real BIND and Knot serve the zone; a second operator's server is a small dnspython server
that answers the owned names and records every TSIG key name it is offered.
"""

from __future__ import annotations

import socket
import socketserver
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import dns.tsig
import pytest

from migrate.dns.swing import providers_for, swing
from migrate.dns.verify import verify
from migrate.outputs import TargetOutputs
from providers.dnsbase import Change, Plan, RRset
from providers.local.servers.dns import free_loopback_address, new_tsig_secret
from tests.dns.conftest import NEW, OLD, ZONE, Cluster

pytestmark = pytest.mark.slow

NAMES = [f"h{i}" for i in range(60)]  # more than AXFR_THRESHOLD: verify tries a zone transfer
OTHER_KEY = "other-operator"


class KeyRecordingServer:
    """Answers A queries for the owned names with NEW (TTL 30); refuses transfers; keeps the
    name of every TSIG key a client offered it."""

    def __init__(self, secret: str) -> None:
        self.address = free_loopback_address()
        self.port = 53
        self.offered: list[str] = []
        self.secret = secret
        outer = self

        def keyring(message: object, name: dns.name.Name) -> dns.tsig.Key:
            outer.offered.append(name.to_text())
            return dns.tsig.Key(name, secret if name.to_text() == OTHER_KEY + "." else new_tsig_secret())

        def answer(wire: bytes) -> bytes | None:
            try:
                query = dns.message.from_wire(wire, keyring=keyring)
            except Exception:
                return None  # a MAC made with a key we do not hold
            reply = dns.message.make_response(query)
            question = query.question[0]
            if question.rdtype == dns.rdatatype.AXFR:
                reply.set_rcode(dns.rcode.NOTAUTH)
            elif question.rdtype == dns.rdatatype.A and question.name.to_text().split(".")[0] in NAMES:
                reply.answer.append(dns.rrset.from_text(question.name, 30, "IN", "A", NEW))
            reply.flags |= dns.flags.AA
            return reply.to_wire()

        class Udp(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                data, sock = self.request
                out = answer(data)
                if out:
                    sock.sendto(out, self.client_address)

        class Tcp(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                conn = self.request
                head = conn.recv(2)
                if len(head) < 2:
                    return
                (size,) = struct.unpack("!H", head)
                data = b""
                while len(data) < size:
                    chunk = conn.recv(size - len(data))
                    if not chunk:
                        return
                    data += chunk
                out = answer(data)
                if out:
                    conn.sendall(struct.pack("!H", len(out)) + out)

        self.udp = socketserver.ThreadingUDPServer((self.address, self.port), Udp)
        self.tcp = socketserver.ThreadingTCPServer((self.address, self.port), Tcp, bind_and_activate=False)
        self.tcp.allow_reuse_address = True
        self.tcp.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.tcp.server_bind()
        self.tcp.server_activate()
        for server in (self.udp, self.tcp):
            threading.Thread(target=server.serve_forever, daemon=True).start()

    def close(self) -> None:
        for server in (self.udp, self.tcp):
            server.shutdown()
            server.server_close()


@pytest.fixture(scope="module")
def other(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[KeyRecordingServer, str]]:
    secret = new_tsig_secret()
    secret_file = Path(tmp_path_factory.mktemp("other")) / "other.secret"
    secret_file.write_text(secret + "\n")
    server = KeyRecordingServer(secret)
    block = f"""  other:
    provider: rfc2136
    server: {server.address}
    port: {server.port}
    timeout: 2
    tsig:
      name: {OTHER_KEY}
      secret: {{file: {secret_file}}}
"""
    yield server, block
    server.close()


RECORDS = "".join(f"    - name: {n}\n      type: A\n" for n in NAMES)


def test_each_key_goes_only_to_its_own_servers_and_ttls_are_compared(cluster, other, tmp_path, monkeypatch):
    monkeypatch.setenv("MIGRATE_HOME", str(tmp_path / "home"))
    server, block = other
    outputs = TargetOutputs(target="local-b", provider="local", public_addresses=[NEW], health_url="")
    ours = cluster.spec(records=RECORDS)
    seed = [RRset.make(n, "A", 300, [OLD], ZONE) for n in NAMES]
    for p in providers_for(ours):
        current = p.records(ZONE)
        p.apply(
            Plan(p.name, ZONE, [Change(current.get(r.key), r) for r in seed if not r.same_data(current.get(r.key))])
        )
    assert swing(ours, outputs).ok

    both = cluster.spec(records=RECORDS, extra_providers=block, providers=["bind", "knot", "other"])
    result = verify(both, outputs=outputs, timeout=10, interval=0.2)
    assert result.ok, [(s.server.where, s.error, s.mismatches[:2]) for s in result.servers]
    where = {s.server.where: s for s in result.servers}
    assert where[server.address].ok and where[server.address].checked == 60
    assert where[cluster.servers["bind"].address].method == "axfr"  # bind's own key: a signed transfer
    # The other operator's server was offered its own key, and never ours.
    assert server.offered and set(server.offered) == {OTHER_KEY + "."}

    # A wrong TTL at BIND (values right) fails, and fails fast: not after the 30 s timeout.
    bind = next(p for p in providers_for(ours) if p.name == "bind")
    h7 = bind.records(ZONE)[(f"h7.{ZONE}.", "A")]
    bind.apply(Plan(bind.name, ZONE, [Change(h7, RRset(h7.name, "A", 5, h7.values))]))
    started = time.monotonic()
    bad = verify(ours, outputs=outputs, timeout=30, interval=0.2)
    assert time.monotonic() - started < 10
    assert not bad.ok
    bad_bind = next(s for s in bad.servers if s.server.where == cluster.servers["bind"].address)
    assert bad_bind.mismatches == ["h7 A: serves TTL 5, want 30"]
    assert all(s.ok for s in bad.servers if s is not bad_bind)
