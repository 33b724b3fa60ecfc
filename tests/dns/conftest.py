"""Real DNS servers for the DNS tests: BIND and Knot (and PowerDNS where needed) on random
loopback addresses, port 53, serving chirp.test with NS records that point at them, so
nameserver discovery from NS records works as it does on the internet.
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from migrate.spec.loader import parse_spec
from migrate.spec.model import ServiceSpec
from providers.local.servers.dns import DnsServer, TsigSpec, ZoneSeed, free_loopback_address, launcher, new_tsig_secret

ZONE = "chirp.test"
OLD = "127.10.0.1"
NEW = "127.20.0.1"

EXTRA = f"""
@ 300 IN A {OLD}
www 300 IN A {OLD}
mail 300 IN A 127.30.0.1
@ 300 IN MX 10 mail
@ 300 IN TXT "v=spf1 mx -all"
blog 300 IN CNAME www
"""


@dataclass
class Cluster:
    """Servers of one test module and a spec whose DNS providers are those servers."""

    directory: Path
    tsig: TsigSpec
    servers: dict[str, DnsServer]

    @property
    def secret_file(self) -> Path:
        return self.directory / "tsig.secret"

    def spec_text(
        self, extra_providers: str = "", providers: list[str] | None = None, records: str | None = None
    ) -> str:
        names = providers or list(self.servers)
        blocks = "".join(
            f"""  {name}:
    provider: rfc2136
    server: {s.address}
    port: {s.port}
    timeout: 3
    tsig:
      name: {self.tsig.name}
      secret: {{file: {self.secret_file}}}
"""
            for name, s in self.servers.items()
        )
        records = (
            records
            or """    - name: "@"
      type: A
    - name: www
      type: A
    - name: www
      type: AAAA
"""
        )
        return f"""version: 1
service: {{name: chirp, domain: {ZONE}}}
recovery: {{rto_seconds: 120}}
processes:
  web: {{command: "true", port: 8080, public: true}}
dns:
  ttl: 30
  records:
{records}  providers: [{", ".join(names)}]
targets:
  local-a: {{provider: local, address: {OLD}}}
  local-b: {{provider: local, address: {NEW}}}
dns_providers:
{blocks}{extra_providers}"""

    def spec(self, **kwargs: object) -> ServiceSpec:
        return parse_spec(self.spec_text(**kwargs), "test.yaml")  # type: ignore[arg-type]

    def write_spec(self, path: Path, **kwargs: object) -> Path:
        path.write_text(self.spec_text(**kwargs))  # type: ignore[arg-type]
        return path


def start_cluster(directory: Path, kinds: dict[str, str], extra: str = EXTRA) -> Cluster:
    tsig = TsigSpec("migrate-test", new_tsig_secret())
    addresses = {name: free_loopback_address() for name in kinds}
    seed_ns = [(f"ns{i + 1}", addr) for i, addr in enumerate(addresses.values())]
    servers: dict[str, DnsServer] = {}
    cluster = Cluster(directory, tsig, servers)
    directory.mkdir(parents=True, exist_ok=True)
    cluster.secret_file.write_text(tsig.secret + "\n")
    try:
        for name, kind in kinds.items():
            seed = ZoneSeed(ZONE, seed_ns, extra=extra)
            server = launcher(kind)(directory=directory / name, zone=seed, tsig=tsig, address=addresses[name], port=53)
            servers[name] = server.start()
    except Exception:
        stop_cluster(cluster)
        raise
    return cluster


def stop_cluster(cluster: Cluster) -> None:
    for server in cluster.servers.values():
        server.stop()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = start_cluster(tmp_path_factory.mktemp("dns"), {"bind": "bind", "knot": "knot"})
    yield c
    stop_cluster(c)


class _Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        code = 200 if self.path == "/healthz" else 503
        self.send_response(code)
        self.end_headers()
        self.wfile.write(b"ok" if code == 200 else b"down")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def health_base() -> Iterator[str]:
    """A real HTTP server: /healthz answers 200, anything else 503."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def outputs_file(path: Path, address: str, health_url: str, target: str = "local-b") -> Path:
    path.write_text(
        json.dumps(
            {
                "target": target,
                "provider": "local",
                "public_addresses": [address],
                "health_url": health_url,
            }
        )
    )
    return path
