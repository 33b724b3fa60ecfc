"""``migrate dns delegate`` through Gandi, against a fake of Gandi's documented v5 API shape.

Gandi cannot run here, so a small HTTP server on loopback plays it, following the API docs:
``GET /v5/domain/domains/{fqdn}/nameservers`` answers a JSON list of host names, ``PUT`` on
the same path takes ``{"nameservers": [...]}`` and answers 202, ``Authorization: Bearer
<PAT>``, errors as ``{"code", "message", "object", "cause"}``. To make the delegation check
real, the fake also plays the registry: an accepted change is published (RFC 2136, TSIG) into
a real BIND server serving the parent zone ``test``, which the CLI then asks.
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dns.message
import dns.query
import dns.rdatatype
import dns.tsigkeyring
import dns.update
import pytest

from providers.local.servers.dns import DnsServer, TsigSpec, ZoneSeed, free_loopback_address, launcher, new_tsig_secret
from tests.dns.conftest import ZONE
from tests.dns.delegation import delegate, write_delegation_spec

pytestmark = pytest.mark.slow

TOKEN = "gandi-pat-0123456789abcdef"


class FakeGandi:
    """Gandi's domain API for one domain, publishing accepted changes to a parent server."""

    def __init__(self, parent: DnsServer, tsig: TsigSpec) -> None:
        self.nameservers = {ZONE: ["ns1.chirp.test"]}
        self.requests: list[tuple[str, str]] = []
        self.parent, self.tsig = parent, tsig
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v5"

    def publish(self, names: list[str]) -> None:
        """What the registry does with the registrar's change: the parent zone's NS set."""
        keyring = dns.tsigkeyring.from_text({self.tsig.name: self.tsig.secret})
        update = dns.update.UpdateMessage("test.", keyring=keyring, keyalgorithm=self.tsig.algorithm)
        update.replace("chirp", 300, "NS", *[n.rstrip(".") + "." for n in names])
        answer = dns.query.tcp(update, self.parent.address, port=self.parent.port, timeout=3)
        assert answer.rcode() == 0

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _send(self, code: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _route(self) -> str | None:
                fake.requests.append((self.command, self.path))
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    self._send(
                        401,
                        {
                            "code": 401,
                            "message": "The server could not verify "
                            "that you are authorized to access the URL requested.",
                            "object": "HTTPUnauthorized",
                            "cause": "Unauthorized",
                        },
                    )
                    return None
                prefix, _, rest = self.path.partition("/v5/domain/domains/")
                fqdn = rest.split("?")[0].removesuffix("/nameservers")
                if prefix or not rest.split("?")[0].endswith("/nameservers") or fqdn not in fake.nameservers:
                    self._send(
                        404, {"code": 404, "message": "Not found", "object": "HTTPNotFound", "cause": "Not Found"}
                    )
                    return None
                return fqdn

            def do_GET(self) -> None:
                fqdn = self._route()
                if fqdn:
                    self._send(200, fake.nameservers[fqdn])

            def do_PUT(self) -> None:
                fqdn = self._route()
                if not fqdn:
                    return
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                names = body.get("nameservers")
                if not isinstance(names, list) or not names or any(str(n).endswith(".invalid") for n in names):
                    self._send(
                        400,
                        {
                            "status": "error",
                            "errors": [
                                {
                                    "location": "body",
                                    "name": "nameservers",
                                    "description": "nameservers must be resolvable host names",
                                }
                            ],
                        },
                    )
                    return
                fake.nameservers[fqdn] = names
                fake.publish(names)
                self._send(202, {"message": "Nameservers updated"})

            def log_message(self, *args: object) -> None:
                pass

        return Handler


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, ...]]:
    """A parent zone (BIND), the destination DNS provider (Knot, NS ns2), a fake Gandi."""
    directory = tmp_path_factory.mktemp("gandi")
    tsig = TsigSpec("migrate-test", new_tsig_secret())
    (directory / "tsig.secret").write_text(tsig.secret + "\n")
    parent_address, knot_address = free_loopback_address(), free_loopback_address()
    parent = launcher("bind")(
        directory=directory / "parent",
        tsig=tsig,
        address=parent_address,
        zone=ZoneSeed("test", [("a.nic", parent_address)], extra="chirp 300 IN NS ns1.chirp.test.\n"),
    )
    knot = launcher("knot")(
        directory=directory / "knot", tsig=tsig, address=knot_address, zone=ZoneSeed(ZONE, [("ns2", knot_address)])
    )
    parent.start()
    try:
        knot.start()
        fake = FakeGandi(parent, tsig)
        fake.thread.start()
        try:
            yield directory, tsig, parent, knot, fake
        finally:
            fake.server.shutdown()
            fake.server.server_close()
            knot.stop()
    finally:
        parent.stop()


def write_spec(path: Path, directory: Path, knot: DnsServer, fake: FakeGandi) -> Path:
    return write_delegation_spec(
        path,
        ZONE,
        "knot",
        f"""  knot:
    provider: rfc2136
    server: {knot.address}
    timeout: 3
    tsig: {{name: migrate-test, secret: {{file: {directory / "tsig.secret"}}}}}
registrars:
  gandi:
    provider: gandi
    token: {{env: GANDI_PAT}}
    base_url: {fake.url}
    timeout: 5
""",
    )


def parent_ns(parent: DnsServer) -> list[str]:
    query = dns.message.make_query(ZONE + ".", "NS")
    answer = dns.query.udp(query, parent.address, port=parent.port, timeout=2)
    return sorted(
        str(r.target)
        for section in (answer.answer, answer.authority)
        for rrset in section
        if rrset.rdtype == dns.rdatatype.NS
        for r in rrset
    )


def test_delegate_to_dns_provider_then_roll_back(world, tmp_path: Path) -> None:
    directory, _tsig, parent, knot, fake = world
    spec = write_spec(tmp_path / "migrate.yaml", directory, knot, fake)
    env = {"GANDI_PAT": TOKEN, "MIGRATE_HOME": str(tmp_path / "home")}

    dry = delegate(spec, "gandi", "--to", "knot", "--dry-run", "--json", env=env)
    assert dry.returncode == 0, dry.stderr
    doc = json.loads(dry.stdout)
    assert doc["dry_run"] and doc["change_needed"] and not doc["changed"]
    assert [n["name"] for n in doc["before"]] == ["ns1.chirp.test."]
    assert [n["name"] for n in doc["after"]] == ["ns2.chirp.test."]
    assert fake.nameservers[ZONE] == ["ns1.chirp.test"]
    assert not any(method == "PUT" for method, _ in fake.requests)

    moved = delegate(spec, "gandi", "--to", "knot", "--parent", parent.address, "--wait", "10", "--json", env=env)
    assert moved.returncode == 0, moved.stderr
    doc = json.loads(moved.stdout)
    assert doc["ok"] and doc["changed"] and doc["delegation"]["ok"]
    assert fake.nameservers[ZONE] == ["ns2.chirp.test"]
    assert parent_ns(parent) == ["ns2.chirp.test."]
    assert any("glue" in w for w in doc["warnings"])  # ns2 is in-zone; Gandi glue not created
    journal = (tmp_path / "home" / "journal" / "registrar" / f"{ZONE}.jsonl").read_text()
    assert "ns1.chirp.test." in journal and TOKEN not in journal

    again = delegate(spec, "gandi", "--to", "knot", "--parent", parent.address, "--json", env=env)
    assert again.returncode == 0, again.stderr
    assert not json.loads(again.stdout)["changed"]  # already delegated: no second PUT
    assert sum(method == "PUT" for method, _ in fake.requests) == 1

    back = delegate(spec, "gandi", "--rollback", "--parent", parent.address, "--wait", "10", "--json", env=env)
    assert back.returncode == 0, back.stderr
    assert json.loads(back.stdout)["delegation"]["ok"]
    assert fake.nameservers[ZONE] == ["ns1.chirp.test"]
    assert parent_ns(parent) == ["ns1.chirp.test."]


def test_wrong_token_is_one_line_and_changes_nothing(world, tmp_path: Path) -> None:
    directory, _tsig, parent, knot, fake = world
    spec = write_spec(tmp_path / "migrate.yaml", directory, knot, fake)
    before = list(fake.nameservers[ZONE])
    puts = sum(method == "PUT" for method, _ in fake.requests)
    result = delegate(
        spec,
        "gandi",
        "--to",
        "knot",
        "--parent",
        parent.address,
        env={"GANDI_PAT": "wrong-token", "MIGRATE_HOME": str(tmp_path / "home")},
    )
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "registrar gandi" in lines[0] and "401" in lines[0], result.stderr
    assert "wrong-token" not in result.stderr + result.stdout
    assert fake.nameservers[ZONE] == before
    assert sum(method == "PUT" for method, _ in fake.requests) == puts
    assert parent_ns(parent) == sorted(n.rstrip(".") + "." for n in before)
    assert not (tmp_path / "home" / "journal").exists()


def test_rollback_passes_over_a_refused_change(world, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A change the registrar refused changed nothing: rollback undoes the one before it."""
    from migrate.dns.registrar_change import apply_delegation, plan_delegation
    from migrate.errors import RegistrarError
    from migrate.spec.loader import load_spec

    directory, _tsig, parent, knot, fake = world
    monkeypatch.setenv("GANDI_PAT", TOKEN)
    home = tmp_path / "home"
    spec = load_spec(write_spec(tmp_path / "migrate.yaml", directory, knot, fake))
    start = list(fake.nameservers[ZONE])
    apply_delegation(plan_delegation(spec, "gandi", to="knot", home=home), check=False, home=home)
    assert fake.nameservers[ZONE] == ["ns2.chirp.test"]
    with pytest.raises(RegistrarError, match=r"registrar gandi: PUT .*HTTP 400: .*resolvable"):
        apply_delegation(plan_delegation(spec, "gandi", names=["ns.chirp.invalid"], home=home), check=False, home=home)
    assert fake.nameservers[ZONE] == ["ns2.chirp.test"]
    back = apply_delegation(
        plan_delegation(spec, "gandi", rollback=True, home=home), parents=[parent.address], wait=10, home=home
    )
    assert back.changed and back.delegated
    assert fake.nameservers[ZONE] == start


def test_registrar_token_must_be_a_reference() -> None:
    from migrate.errors import SpecError
    from migrate.spec.loader import parse_spec

    text = (Path(__file__).parents[2] / "examples" / "chirp" / "migrate.yaml").read_text()
    assert parse_spec(text, "chirp.yaml").registrars["gandi"].provider == "gandi"
    with pytest.raises(SpecError, match=r"registrars\.gandi\.token: secret value written inline"):
        parse_spec(text.replace("token: {env: GANDI_PAT}", "token: abc123"), "chirp.yaml")
