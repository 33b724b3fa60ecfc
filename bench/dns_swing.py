"""Benchmark: swing every service-owned A record of a 10,000-record zone, migrate vs octoDNS.

Issue #4. Two real DNS servers, BIND and Knot, run on loopback, each a primary for its own
copy of the zone (two DNS providers updated independently, as in a multi-provider setup).
The zone holds ``--records`` RRsets besides SOA/NS/glue; the service owns ``--owned`` of them
(A records: the apex, www and customer subdomains), and every owned record moves from the
old target address to the new one. The rest (A, AAAA, TXT, CNAME not owned) must stay.

Each repetition, from freshly started servers with the same zone:

* migrate (CLI): ``migrate dns swing`` then ``migrate dns verify`` in subprocesses, as a
  user runs them (Python start-up, spec load, journal fsyncs, verification included);
* migrate (API): ``swing()`` + ``verify()`` in this process (no start-up);
* octoDNS: ``octodns-sync --doit --force`` with octodns-bind's ``Rfc2136Provider`` (AXFR
  read, batched RFC 2136 updates) applying the same end state to the same two servers.
  octoDNS verifies nothing; ``migrate dns verify`` is then run and reported separately.

After every run both servers are read back by AXFR and compared, RRset by RRset, with the
expected end state: all tools must reach the same zone. Prints the median seconds of each
and the ratio octoDNS / migrate. Traffic goes only to 127.0.0.0/8.

    .venv/bin/python bench/dns_swing.py [--records 10000] [--owned 9000] [--reps 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from providers.local.servers.dns import DnsServer, TsigSpec, ZoneSeed, free_loopback_address, launcher, new_tsig_secret  # noqa: E402

ZONE = "bench.test"
OLD = "127.10.0.1"
NEW = "127.20.0.1"
TTL = 300
KEY_NAME = "migrate-bench"
KINDS = ("bind", "knot")
GOAL = 5.0


@dataclass
class Zone:
    """The zone's contents before and after the swing, and which names the service owns."""

    owned: list[str]  # relative names of the owned A records
    other: list[tuple[str, str, str]]  # (relative name, type, value) not owned

    def lines(self, address: str) -> str:
        out = [f"{n} {TTL} IN A {address}" for n in self.owned]
        out += [f"{n} {TTL} IN {t} {v}" for n, t, v in self.other]
        return "\n".join(out)


def make_zone(records: int, owned: int) -> Zone:
    """``owned`` A records (@, www, c00001...) and ``records - owned`` others of mixed types."""
    names = ["@", "www", *(f"c{i:05d}" for i in range(1, owned - 1))][:owned]
    other: list[tuple[str, str, str]] = []
    for i in range(records - owned):
        kind = i % 4
        if kind == 0:
            other.append((f"h{i:05d}", "A", f"127.30.{i // 250 % 256}.{i % 250 + 1}"))
        elif kind == 1:
            other.append((f"h{i:05d}", "AAAA", f"fd00::{i:x}"))
        elif kind == 2:
            other.append((f"t{i:05d}", "TXT", f'"site-verification={i:08d}"'))
        else:
            other.append((f"a{i:05d}", "CNAME", f"{names[i % len(names)]}.{ZONE}.".replace("@.", "")))
    return Zone(names, other)


def spec_text(zone: Zone, servers: dict[str, DnsServer], secret_file: Path) -> str:
    """A migrate spec whose dns.records are the owned names and providers the two servers."""
    records = "".join(f'    - {{name: "{n}", type: A}}\n' for n in zone.owned)
    providers = "".join(
        f"""  {name}:
    provider: rfc2136
    server: {s.address}
    port: {s.port}
    tsig:
      name: {KEY_NAME}
      secret: {{file: {secret_file}}}
"""
        for name, s in servers.items()
    )
    return f"""version: 1
service: {{name: bench, domain: {ZONE}}}
recovery: {{rto_seconds: 600}}
processes:
  web: {{command: "true", port: 8080, public: true}}
dns:
  ttl: {TTL}
  records:
{records}  providers: [{", ".join(servers)}]
targets:
  old: {{provider: local, address: {OLD}}}
  new: {{provider: local, address: {NEW}}}
dns_providers:
{providers}"""


def octodns_files(
    directory: Path, zone: Zone, servers: dict[str, DnsServer], seed_ns: list[tuple[str, str]], batch: int, source: str
) -> Path:
    """octoDNS config + the desired zone (whole zone, owned records at the new address)."""
    import yaml

    config_dir = directory / "zones"
    config_dir.mkdir(parents=True, exist_ok=True)
    if source == "zonefile":
        seed = ZoneSeed(ZONE, seed_ns, extra=zone.lines(NEW), ttl=TTL)
        (config_dir / f"{ZONE}.zone").write_text(seed.text())
        source_cfg: dict[str, Any] = {
            "class": "octodns_bind.ZoneFileSource",
            "directory": str(config_dir),
            "file_extension": ".zone",
        }
    else:
        data: dict[str, Any] = {}

        def add(name: str, rtype: str, value: Any, ttl: int = TTL) -> None:
            key = "" if name == "@" else name
            entry = {"type": rtype, "ttl": ttl, ("values" if isinstance(value, list) else "value"): value}
            data.setdefault(key, []).append(entry)

        add("@", "NS", [f"{label}.{ZONE}." for label, _ in seed_ns])
        for label, address in seed_ns:
            add(label, "A", address)
        for name in zone.owned:
            add(name, "A", NEW)
        for name, rtype, value in zone.other:
            add(name, rtype, value.strip('"'))
        text = yaml.dump(
            {k: v[0] if len(v) == 1 else v for k, v in data.items()}, Dumper=yaml.CSafeDumper, sort_keys=True
        )
        (config_dir / f"{ZONE}.yaml").write_text(text)
        source_cfg = {
            "class": "octodns.provider.yaml.YamlProvider",
            "directory": str(config_dir),
            "default_ttl": TTL,
            "enforce_order": False,
            "escaped_semicolons": False,
        }
    providers: dict[str, Any] = {"config": source_cfg}
    for name, s in servers.items():
        providers[name] = {
            "class": "octodns_bind.Rfc2136Provider",
            "host": s.address,
            "port": s.port,
            "key_name": KEY_NAME,
            "key_secret": "env/BENCH_TSIG_SECRET",
            "key_algorithm": "hmac-sha256",
            "update_batch_size": batch,
        }
    config = {"providers": providers, "zones": {f"{ZONE}.": {"sources": ["config"], "targets": list(servers)}}}
    path = directory / "octodns.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def knot_with_io_timeout(milliseconds: int) -> type[DnsServer]:
    """The Knot launcher with ``server.tcp-io-timeout`` set (Knot's default is 500 ms).

    Knot drops an outgoing zone transfer when one message cannot be sent within that time.
    octoDNS (dnspython's ``dns.zone.from_xfr``) parses each 64 KiB message before reading
    the next, and on a busy machine falls behind by more than 500 ms: its sync then dies
    with ``EOFError``. The bench raises the limit so the peer can finish at all.
    """
    from providers.local.servers.knot import KnotServer

    class PatientKnot(KnotServer):
        def prepare(self) -> None:
            super().prepare()
            conf = self.directory / "knot.conf"
            text = conf.read_text().replace("server:\n", f"server:\n    tcp-io-timeout: {milliseconds}\n", 1)
            conf.write_text(text)

    return PatientKnot


class Lab:
    """BIND and Knot on random loopback addresses (port 53), restarted fresh for every run."""

    def __init__(self, root: Path, zone: Zone, knot_io_timeout: int = 500) -> None:
        self.root = root
        self.knot_io_timeout = knot_io_timeout
        self.zone = zone
        self.tsig = TsigSpec(KEY_NAME, new_tsig_secret())
        self.addresses = {kind: free_loopback_address() for kind in KINDS}
        self.seed_ns = [(f"ns{i + 1}", a) for i, a in enumerate(self.addresses.values())]
        self.secret_file = root / "tsig.secret"
        self.secret_file.write_text(self.tsig.secret + "\n")
        self.secret_file.chmod(0o600)
        self.servers: dict[str, DnsServer] = {}
        self.runs = 0

    def start(self) -> dict[str, DnsServer]:
        """Fresh servers with the old zone: same serial, no journal, same work for every tool."""
        self.stop()
        self.runs += 1
        for kind in KINDS:
            seed = ZoneSeed(ZONE, self.seed_ns, extra=self.zone.lines(OLD), ttl=TTL)
            directory = self.root / f"run{self.runs:02d}" / kind
            cls = (
                knot_with_io_timeout(self.knot_io_timeout)
                if kind == "knot" and self.knot_io_timeout != 500
                else launcher(kind)
            )
            server = cls(directory=directory, zone=seed, tsig=self.tsig, address=self.addresses[kind], port=53)
            self.servers[kind] = server
            server.start(timeout=60)
        return self.servers

    def stop(self) -> None:
        for server in self.servers.values():
            server.stop()
        self.servers = {}

    def check_end_state(self) -> str:
        """Every RRset each server serves (but SOA) equals the expected zone after the swing."""
        import dns.zone

        from providers.rfc2136.wire import axfr, tsig_key

        seed = ZoneSeed(ZONE, self.seed_ns, extra=self.zone.lines(NEW), ttl=TTL)
        expected_zone = dns.zone.from_text(seed.text(), origin=ZONE + ".", relativize=False)
        expected = {}
        for name, rdataset in expected_zone.iterate_rdatasets():
            if rdataset.rdtype == dns.rdatatype.SOA:
                continue
            values = tuple(sorted(r.to_text(origin=None, relativize=False) for r in rdataset))
            expected[(str(name).lower(), dns.rdatatype.to_text(rdataset.rdtype))] = (rdataset.ttl, values)
        key = tsig_key(KEY_NAME, self.tsig.secret)
        for kind, server in self.servers.items():
            served = {
                k: (r.ttl, r.values)
                for k, r in axfr(server.address, server.port, ZONE, key, timeout=30).items()
                if k[1] != "SOA"
            }
            if served != expected:
                wrong = sorted(k for k in set(served) | set(expected) if served.get(k) != expected.get(k))
                raise SystemExit(
                    f"{kind}: end state differs from expected in {len(wrong)} "
                    f"RRset(s), e.g. {wrong[:3]}: "
                    f"{[served.get(k) for k in wrong[:3]]} vs "
                    f"{[expected.get(k) for k in wrong[:3]]}"
                )
        return f"{len(expected)} RRsets identical on {', '.join(self.servers)}"


def run(argv: list[str], env: dict[str, str], what: str, log: Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=REPO, timeout=600, check=False)
    log.write_text(f"$ {' '.join(argv)}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}\n")
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-5:]
        raise SystemExit(f"{what} failed (exit {result.returncode}, log {log}): " + " | ".join(tail))
    return result


@dataclass
class Timings:
    samples: dict[str, list[float]] = field(default_factory=dict)

    def add(self, name: str, seconds: float) -> None:
        self.samples.setdefault(name, []).append(seconds)

    def median(self, name: str) -> float:
        return statistics.median(self.samples[name])


def timed(fn: Callable[..., Any], *args: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    value = fn(*args)
    return time.perf_counter() - start, value


def children_cpu() -> float:
    """CPU seconds used by finished child processes (the CLI runs, octodns-sync)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def migrate_cli(lab: Lab, workdir: Path, spec: Path) -> tuple[float, float]:
    """``migrate dns swing`` + ``migrate dns verify`` as a user runs them: (swing s, verify s)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "MIGRATE_HOME": str(workdir / "home")}
    cli = [sys.executable, "-m", "migrate", "dns"]
    t_swing, swung = timed(
        lambda: run(
            [*cli, "swing", "-f", str(spec), "--address", NEW, "--json"],
            env,
            "migrate dns swing",
            workdir / "swing.log",
        )
    )
    doc = json.loads(swung.stdout)
    assert doc["ok"] and doc["changes"] == len(lab.zone.owned) * len(KINDS), doc["changes"]
    t_verify, _ = timed(migrate_verify, lab, workdir, spec)
    return t_swing, t_verify


def migrate_cli_one(lab: Lab, workdir: Path, spec: Path) -> float:
    """``migrate dns swing --verify``: the same swing and the same verification in one command."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "MIGRATE_HOME": str(workdir / "home")}
    seconds, done = timed(
        lambda: run(
            [
                sys.executable,
                "-m",
                "migrate",
                "dns",
                "swing",
                "-f",
                str(spec),
                "--address",
                NEW,
                "--verify",
                "--verify-timeout",
                "30",
                "--json",
            ],
            env,
            "migrate dns swing --verify",
            workdir / "swing-verify.log",
        )
    )
    doc = json.loads(done.stdout)
    assert doc["ok"] and doc["changes"] == len(lab.zone.owned) * len(KINDS), doc["changes"]
    checked = {s["server"]: s["checked"] for s in doc["verify"]["servers"]}
    assert doc["verify"]["ok"] and len(checked) == len(KINDS), doc["verify"]
    assert all(n == len(lab.zone.owned) for n in checked.values()), checked
    return float(seconds)


def migrate_verify(lab: Lab, workdir: Path, spec: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "MIGRATE_HOME": str(workdir / "home")}
    verified = run(
        [
            sys.executable,
            "-m",
            "migrate",
            "dns",
            "verify",
            "-f",
            str(spec),
            "--address",
            NEW,
            "--timeout",
            "30",
            "--json",
        ],
        env,
        "migrate dns verify",
        workdir / "verify.log",
    )
    doc = json.loads(verified.stdout)
    checked = {s["server"]: s["checked"] for s in doc["servers"]}
    assert doc["ok"] and len(checked) == len(KINDS), doc
    assert all(n == len(lab.zone.owned) for n in checked.values()), checked


def migrate_api(lab: Lab, workdir: Path, spec_path: Path) -> tuple[float, float]:
    """The same through the Python API in this process (spec load included)."""
    from migrate.dns.journal import Journal
    from migrate.dns.swing import swing
    from migrate.dns.verify import verify
    from migrate.outputs import TargetOutputs
    from migrate.spec.loader import load_spec

    start = time.perf_counter()
    spec = load_spec(spec_path)
    outputs = TargetOutputs(
        target="new", provider="manual", public_hostname=None, public_addresses=[NEW], health_url=""
    )
    result = swing(spec, outputs, journal=Journal(spec.zone, workdir / "home"))
    middle = time.perf_counter()
    assert result.ok and result.changes == len(lab.zone.owned) * len(KINDS), result.changes
    checked = verify(spec, outputs=outputs, timeout=30)
    end = time.perf_counter()
    assert checked.ok and len(checked.servers) == len(KINDS), checked.to_json()["servers"]
    return middle - start, end - middle


def octodns(lab: Lab, workdir: Path, batch: int, source: str) -> float:
    config = octodns_files(workdir, lab.zone, lab.servers, lab.seed_ns, batch, source)
    env = {**os.environ, "BENCH_TSIG_SECRET": lab.tsig.secret}
    sync = str(Path(sys.executable).parent / "octodns-sync")
    seconds, _ = timed(
        lambda: run(
            [sync, "--config-file", str(config), "--doit", "--force"], env, "octodns-sync", workdir / "octodns.log"
        )
    )
    return float(seconds)


@contextmanager
def stopped_on_exit(lab: Lab) -> Iterator[Lab]:
    """Stop the servers however the run ends (error, ^C, SIGTERM)."""
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        yield lab
    finally:
        lab.stop()
        signal.signal(signal.SIGTERM, previous)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=10_000, help="RRsets besides SOA/NS/glue")
    parser.add_argument("--owned", type=int, default=9_000, help="owned A records (all change)")
    parser.add_argument("--reps", type=int, default=3, help="repetitions (median is reported)")
    parser.add_argument(
        "--octodns-batch", type=int, default=1000, help="octodns-bind update_batch_size (its default, 1000)"
    )
    parser.add_argument(
        "--octodns-source",
        choices=("yaml", "zonefile"),
        default="yaml",
        help="where octoDNS reads the desired zone from",
    )
    parser.add_argument(
        "--knot-tcp-io-timeout",
        type=int,
        default=5000,
        metavar="MS",
        help="Knot's tcp-io-timeout (its default is 500 ms; octoDNS's zone "
        "transfer reader falls behind that on a busy machine)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument(
        "--cpu-hog",
        type=int,
        default=0,
        metavar="N",
        help="run N busy-looping processes beside the measurement (the figures under CPU load)",
    )
    args = parser.parse_args()
    if not 2 <= args.owned <= args.records:
        parser.error("--owned must be between 2 and --records")
    if not 1 <= args.reps <= 20:
        parser.error("--reps must be between 1 and 20")

    compile_bytecode()
    root = Path(tempfile.mkdtemp(prefix="dns-swing-bench-"))
    root.chmod(0o755)
    zone = make_zone(args.records, args.owned)
    lab = Lab(root, zone, args.knot_tcp_io_timeout)
    spec = root / "migrate.yaml"
    spec.write_text(spec_text(zone, {k: _placeholder(lab, k) for k in KINDS}, lab.secret_file))
    times = Timings()
    print(
        f"zone {ZONE}: {args.records} RRsets (+ SOA, NS, glue), {args.owned} owned A records "
        f"change {OLD} -> {NEW}; BIND at {lab.addresses['bind']}, Knot at "
        f"{lab.addresses['knot']}; {args.reps} repetition(s)",
        flush=True,
    )
    hogs = [subprocess.Popen(["sh", "-c", "while :; do :; done"]) for _ in range(args.cpu_hog)]
    if hogs:
        print(f"{len(hogs)} CPU hog(s) running beside the bench", flush=True)
    loads = [os.getloadavg()[0]]
    try:
        with stopped_on_exit(lab):
            for rep in range(1, args.reps + 1):
                order = ["migrate-cli", "octodns", "migrate-one", "migrate-api"]
                if rep % 2 == 0:
                    order.reverse()
                for tool in order:
                    lab.start()
                    workdir = root / f"rep{rep}-{tool}"
                    workdir.mkdir()
                    cpu = children_cpu()
                    if tool == "migrate-cli":
                        t_swing, t_verify = migrate_cli(lab, workdir, spec)
                        times.add("cpu: migrate CLI", children_cpu() - cpu)
                        times.add("migrate CLI: swing", t_swing)
                        times.add("migrate CLI: verify", t_verify)
                        times.add("migrate CLI: swing + verify", t_swing + t_verify)
                        total = t_swing + t_verify
                    elif tool == "migrate-one":
                        total = migrate_cli_one(lab, workdir, spec)
                        times.add("cpu: migrate swing --verify", children_cpu() - cpu)
                        times.add("migrate CLI: swing --verify", total)
                    elif tool == "migrate-api":
                        t_swing, t_verify = migrate_api(lab, workdir, spec)
                        times.add("migrate API: swing + verify", t_swing + t_verify)
                        total = t_swing + t_verify
                    else:
                        total = octodns(lab, workdir, args.octodns_batch, args.octodns_source)
                        times.add("octoDNS: sync", total)
                        times.add("cpu: octoDNS", children_cpu() - cpu)
                    state = lab.check_end_state()
                    if tool == "octodns":
                        t_verify, _ = timed(migrate_verify, lab, workdir, spec)
                        times.add("after octoDNS: migrate verify", t_verify)
                    loads.append(os.getloadavg()[0])
                    print(f"  rep {rep} {tool:<12} {total:7.2f}s  end state: {state}  load {loads[-1]:.1f}", flush=True)
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
        if args.keep:
            print(f"work directory kept: {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    report(times, args)
    print(
        f"load average (1 min) during the run: {min(loads):.1f} to {max(loads):.1f} on {os.cpu_count()} cores"
        + (f", with {args.cpu_hog} CPU hog(s)" if args.cpu_hog else "")
    )
    return 0


def compile_bytecode() -> None:
    """Byte-compile migrate as ``pip install`` does (octoDNS's modules are compiled already):
    with PYTHONDONTWRITEBYTECODE set, as on the project's machines, every CLI run would
    otherwise compile each module it imports from source again."""
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(REPO / "migrate"), str(REPO / "providers")], check=True, cwd=REPO
    )


def _placeholder(lab: Lab, kind: str) -> DnsServer:
    """A launcher object only for its address/port (the spec is written once)."""
    seed = ZoneSeed(ZONE, lab.seed_ns)
    return launcher(kind)(directory=lab.root / "unused", zone=seed, tsig=lab.tsig, address=lab.addresses[kind], port=53)


def report(times: Timings, args: argparse.Namespace) -> None:
    octo = times.median("octoDNS: sync")
    rows = [
        ("migrate dns swing + verify (CLI)", times.median("migrate CLI: swing + verify")),
        ("  of which swing", times.median("migrate CLI: swing")),
        ("  of which verify", times.median("migrate CLI: verify")),
        ("migrate dns swing --verify (CLI, one command)", times.median("migrate CLI: swing --verify")),
        ("migrate swing() + verify() (API)", times.median("migrate API: swing + verify")),
        (f"octodns-sync --doit ({args.octodns_source} source, batch {args.octodns_batch})", octo),
        ("  + migrate dns verify after it", times.median("after octoDNS: migrate verify")),
    ]
    width = max(len(r[0]) for r in rows)
    print()
    print(f"{'tool':<{width}}  {'median s':>9}  {'octoDNS / this':>14}")
    for name, seconds in rows:
        ratio = "" if name.startswith("  ") else f"{octo / seconds:13.1f}x"
        print(f"{name:<{width}}  {seconds:9.2f}  {ratio:>14}")
    print(
        f"client CPU seconds (median; servers not counted): migrate CLI "
        f"{times.median('cpu: migrate CLI'):.2f}, octoDNS {times.median('cpu: octoDNS'):.2f} "
        f"({times.median('cpu: octoDNS') / times.median('cpu: migrate CLI'):.1f}x)"
    )
    print()
    for label, key in (
        ("two commands, swing then verify", "migrate CLI: swing + verify"),
        ("one command, swing --verify", "migrate CLI: swing --verify"),
    ):
        cli = times.median(key)
        verdict = "meets" if octo / cli >= GOAL else "MISSES"
        print(
            f"migrate CLI ({label}; verification included) is {octo / cli:.1f}x faster than octoDNS "
            f"(no verification): {verdict} the goal of {GOAL:.0f}x."
        )
    print("Samples: " + json.dumps({k: [round(x, 2) for x in v] for k, v in times.samples.items()}))


if __name__ == "__main__":
    sys.exit(main())
