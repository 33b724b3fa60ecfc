"""unbound as a caching recursive resolver on one loopback address, in front of sandbox servers.

Each zone is a ``stub-zone`` pointing at the authoritative servers, so ``migrate dns verify
--resolver`` can be tried against a real cache: the old answer lives until its TTL runs out.
Only the iterator module runs (no DNSSEC validation, so no trust-anchor priming), and
``local-zone: "test." nodefault`` lets the reserved ``.test`` TLD through; queries leave from
127.0.0.1 only, so nothing is ever asked beyond loopback.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from providers.local.servers import process


@dataclass
class UnboundServer(process.ListeningServer):
    directory: Path
    host: str
    stubs: dict[str, Sequence[str]]  # zone -> authoritative "address" or "address@port"
    port: int = 53
    pid: int | None = None
    extra: list[str] = field(default_factory=list)  # more ``server:`` lines

    @property
    def where(self) -> str:
        return self.host if self.port == 53 else f"{self.host}:{self.port}"

    def config(self) -> str:
        d = self.directory
        lines = [
            "server:",
            f"  interface: {self.host}",
            f"  port: {self.port}",
            "  do-daemonize: no",
            '  username: ""',
            '  chroot: ""',
            f'  directory: "{d}"',
            f'  pidfile: "{d}/unbound.pid"',
            "  use-syslog: no",
            "  verbosity: 1",
            "  do-ip6: no",
            "  do-not-query-localhost: no",
            "  outgoing-interface: 127.0.0.1",  # it cannot reach beyond loopback even if asked
            "  access-control: 127.0.0.0/8 allow",
            '  module-config: "iterator"',
            "  num-threads: 1",
            *[f"  {line}" for line in self.extra],
        ]
        tlds = dict.fromkeys(zone.rstrip(".").split(".")[-1] for zone in self.stubs)
        lines += [f'  local-zone: "{tld}." nodefault' for tld in tlds]
        lines += ["remote-control:", "  control-enable: no"]
        for zone, servers in self.stubs.items():
            lines += ["stub-zone:", f'  name: "{zone.rstrip(".")}."']
            lines += [f"  stub-addr: {s}" for s in servers]
        return "\n".join(lines) + "\n"

    def answers(self) -> bool:
        import dns.message
        import dns.query

        zone = next(iter(self.stubs)).rstrip(".") + "."
        try:
            answer = dns.query.udp(dns.message.make_query(zone, "SOA"), self.host, port=self.port, timeout=0.3)
        except Exception:
            return False
        return answer.rcode() == 0 and bool(answer.answer)

    def start(self, timeout: float = 15.0) -> int:
        if self.pid and process.alive(self.pid):
            return self.pid
        self.directory.mkdir(parents=True, exist_ok=True)
        conf = self.directory / "unbound.conf"
        conf.write_text(self.config())
        self.pid = process.start_server(
            ["unbound", "-d", "-c", str(conf)],
            self.directory / "unbound.log",
            ready=self.answers,
            what=f"unbound on {self.where}",
            timeout=timeout,
        )
        return self.pid
