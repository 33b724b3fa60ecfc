"""The provider contract: flags the core acts on, registries from the packages, no name tests."""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from migrate.audit.checks import preflight
from migrate.spec.loader import parse_spec
from providers.discovery import PACKAGE_DIR
from providers.hosting import FEATURES, Capability, HostingAdapter, Supports, UnsupportedError
from providers.registry import DNS_PROVIDERS, HOSTING_ADAPTERS, REGISTRARS, hosting_adapter

ROOT = Path(__file__).resolve().parents[2]
CHIRP = ROOT / "examples" / "chirp" / "migrate.yaml"

SPEC = """
version: 1
service: {name: shop, domain: shop.test}
processes:
  web: {command: "sleep 1000", port: 8080, public: true, image: "example/shop:1"}
postgres: {version: 15, database: shop, user: shop}
targets:
  a: {provider: local}
  b: {provider: local}
  box: {provider: vps, hosts: [{address: 192.0.2.10}]}
  cloud: {provider: aws, region: us-east-1}
dns:
  ttl: 30
  records: [{name: "@", type: A}]
  providers: [ns]
dns_providers:
  ns: {provider: rfc2136, server: 127.0.0.1, port: 5399, sandbox: bind}
"""


def spec():
    return parse_spec(SPEC, "shop.yaml")


def test_no_provider_name_is_tested_in_migrate() -> None:
    hits = [
        f"{path}:{n}"
        for path in (ROOT / "migrate").rglob("*.py")
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"provider\s*(==|!=)|provider\s+(not\s+)?in\s*\(", line)
    ]
    assert hits == []


def test_registries_are_the_packages() -> None:
    packages = {p.parent.name for p in PACKAGE_DIR.glob("*/settings.py")}
    assert set(HOSTING_ADAPTERS) | set(DNS_PROVIDERS) | set(REGISTRARS) == packages
    assert {"local", "aws", "hetzner", "digitalocean", "vps", "kubernetes"} == set(HOSTING_ADAPTERS)
    for name in HOSTING_ADAPTERS:
        adapter = hosting_adapter(name)
        assert isinstance(adapter, HostingAdapter) and adapter.name == name
        assert isinstance(adapter.supports, Supports)
        # a declared flag has its method: terminate's module, an overridden holding_address
        if adapter.supports.terminate:
            assert callable(importlib.import_module(f"providers.{name}.terminate").terminate), name
        # an adapter that leaves DNS out covers it the default way, never as a missing entry
        assert set(adapter.capabilities) == set(Capability), name
        if adapter.supports.holding_page:
            assert type(adapter).holding_address is not HostingAdapter.holding_address, name


def test_the_providers_table_comes_from_the_flags() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "migrate", "providers", "--json"], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    for name, entry in document["hosting"].items():
        adapter = hosting_adapter(name)
        assert entry["supports"] == adapter.supports.as_dict()
        assert set(entry["supports"]) == set(FEATURES)
        assert entry["termination"] == adapter.termination
        assert entry["data_route"] == adapter.data_route


def without_terminate(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every adapter terminates now: the vps adapter, stripped of the flag, stands for one that cannot."""
    from providers.vps.adapter import VpsAdapter

    monkeypatch.setattr(VpsAdapter, "supports", Supports())


def test_an_adapter_without_the_flag_refuses_to_terminate(monkeypatch: pytest.MonkeyPatch) -> None:
    without_terminate(monkeypatch)
    with pytest.raises(UnsupportedError, match=r"target box \(vps\) cannot do 'terminate'"):
        hosting_adapter("vps").terminate(spec(), "box", None)


# The same, in a child process: `python -c WITHOUT_TERMINATE migrate ARGS...` runs the CLI.
WITHOUT_TERMINATE = (
    "import sys; from providers.hosting import Supports; from providers.vps.adapter import VpsAdapter; "
    "VpsAdapter.supports = Supports(); from migrate.cli.main import main; main(sys.argv[1:])"
)


def test_drill_preflight_refuses_a_source_that_cannot_be_terminated(monkeypatch: pytest.MonkeyPatch) -> None:
    without_terminate(monkeypatch)
    report = preflight(spec(), "box", "a", drill=True, data_mode="restore")
    lines = [f.message for f in report.blocking]
    assert any("cannot do 'terminate'" in line and "box (vps)" in line for line in lines), lines
    assert preflight(spec(), "a", "b", drill=True, data_mode="replica").blocking == []


def test_replica_drill_needs_a_superuser_url_at_both_ends(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MIGRATE_TO_ADMIN_URL", raising=False)
    monkeypatch.delenv("MIGRATE_FROM_ADMIN_URL", raising=False)
    report = preflight(spec(), "cloud", "a", drill=True, data_mode="replica")
    lines = [f.message for f in report.blocking]
    assert any("cloud (aws) cannot do 'superuser_url'" in line and "MIGRATE_FROM_ADMIN_URL" in line for line in lines)
    # restore mode needs no superuser; the holding page on aws is a warning with the way out
    report = preflight(spec(), "cloud", "a", drill=True, data_mode="restore")
    assert report.blocking == []
    warned = [f.message for f in report.all() if f.area == "capability" and f.severity == "warning"]
    assert any("holding_page" in w and "--bind" in w for w in warned), warned


def test_chaos_terminate_on_an_adapter_without_it_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "shop.yaml"
    path.write_text(SPEC)
    args = ["-f", str(path), "chaos", "terminate", "--target", "box"]
    env = {**os.environ, "MIGRATE_HOME": str(tmp_path / "home")}
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_TERMINATE, *args], capture_output=True, text=True, timeout=60, cwd=ROOT, env=env
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "box (vps) cannot do 'terminate'" in done.stderr
    assert "Traceback" not in done.stderr
    # the real vps adapter does terminate, and a host without a key is one line too, before any SSH
    done = subprocess.run(
        [sys.executable, "-m", "migrate", *args], capture_output=True, text=True, timeout=60, cwd=ROOT, env=env
    )
    assert done.returncode == 1
    assert done.stderr == "error: targets.box.hosts[0].private_key: give {file: PATH} or {env: NAME}\n"


def _plan_aws(tmp_path: Path, *prefix: str) -> tuple[subprocess.CompletedProcess[str], float]:
    env = {
        **os.environ,
        "MIGRATE_HOME": str(tmp_path / "home"),
        "CHIRP_SESSION_KEY": "k",
        "MIGRATE_PLUGIN_INSTALL": "never",
        "PULUMI_HOME": str(tmp_path / "pulumi-home"),
        "PYTHONPATH": str(ROOT),
    }
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, *prefix, "-f", str(CHIRP), "plan", "--to", "aws-prod"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env=env,
    )
    return done, time.monotonic() - started


def test_a_missing_plugin_is_one_line_and_exit_2(tmp_path: Path) -> None:
    done, seconds = _plan_aws(tmp_path, "-m", "migrate")
    assert done.returncode == 2, done.stderr
    assert "Pulumi plugins aws 7.51.1, random 4.21.4" in done.stderr
    assert "pulumi plugin install resource aws 7.51.1" in done.stderr
    assert seconds < 30


def test_an_engine_error_with_the_program_still_waiting_exits_promptly(tmp_path: Path) -> None:
    """Without the plugin check the engine fails while the inline program waits on an invoke
    (aws.get_availability_zones): that thread never returns, and the process used to hang."""
    script = tmp_path / "no_check.py"
    script.write_text(
        "import sys\n"
        "from providers.aws.adapter import AwsAdapter\n"
        "AwsAdapter.plugins = ()\n"
        "from migrate.cli.main import main\n"
        "main(sys.argv[1:])\n"
    )
    done, seconds = _plan_aws(tmp_path, str(script))
    assert done.returncode == 1, done.stderr
    assert "no resource plugin 'pulumi-resource-aws' found" in done.stderr
    assert [line for line in done.stderr.splitlines() if line.startswith("error:")] == done.stderr.splitlines()[-1:]
    assert seconds < 60


def test_a_vps_destination_refuses_process_files_and_a_database_locale() -> None:
    text = SPEC.replace(
        'image: "example/shop:1"}', 'image: "example/shop:1", files: {app.conf: "listen {host}:{port}"}}'
    ).replace("user: shop}", "user: shop, locale: C}")
    report = preflight(parse_spec(text, "shop.yaml"), "a", "box", drill=False, data_mode="restore")
    lines = [f.message for f in report.blocking]
    assert any("box (vps) cannot do 'config_files'" in line for line in lines), lines
    assert any("box (vps) cannot do 'database_locale'" in line for line in lines), lines
    assert preflight(parse_spec(text, "shop.yaml"), "box", "a", drill=False, data_mode="restore").blocking == []
