"""No process migrate starts inherits the operator's secrets.

Recognisable secrets are planted in the environment the CLI runs with (the state passphrase,
the backup key, cloud tokens). A target is deployed through the real engine, backed up
(pg_dump) and given a holding page; then every process still alive is read through
``/proc/<pid>/environ``, and the postmaster's environment through Postgres itself
(``pg_read_binary_file`` as the superuser, the route an app with that URL would take).
The Postgres tools are wrapped (``MIGRATE_PG_BIN``) so that short-lived ones (initdb,
pg_isready, pg_dump) record the environment they were given too.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from migrate.outputs import TargetOutputs
from providers.local import layout
from providers.local.servers.postgres import PG_BIN
from tests.conftest import CHIRP_SPEC, run_cli
from tests.engine.helpers import free_loopback_address

pytestmark = pytest.mark.slow
TARGET = "local-a"
TOOLS = ("postgres", "initdb", "pg_isready", "pg_dump", "pg_restore", "psql", "pg_ctl")


def planted_secrets() -> dict[str, str]:
    tag = secrets.token_hex(8)
    return {
        "PULUMI_CONFIG_PASSPHRASE": f"planted-passphrase-{tag}",
        "MIGRATE_BACKUP_KEY": f"planted-backup-key-{tag}",
        "AWS_SECRET_ACCESS_KEY": f"planted-aws-{tag}",
        "GITHUB_TOKEN": f"planted-github-{tag}",
        "CLOUDFLARE_API_TOKEN": f"planted-cloudflare-{tag}",
    }


def wrap_postgres_tools(directory: Path, record: Path) -> None:
    """A bin directory whose tools save their own environment, then run the real tool."""
    directory.mkdir(parents=True)
    record.mkdir(mode=0o777)
    record.chmod(0o777)  # initdb and postgres run as the postgres user
    for tool in TOOLS:
        real = PG_BIN / tool
        if not real.exists():
            continue
        wrapper = directory / tool
        wrapper.write_text(f'#!/bin/sh\ncat /proc/$$/environ > "{record}/{tool}.$$" 2>/dev/null\nexec "{real}" "$@"\n')
        wrapper.chmod(0o755)


def wrap_the_engine(root: Path, record: Path) -> None:
    """A Pulumi root whose CLI, and the dynamic-provider plugin the CLI starts, save their own
    environment, then run the real ones (the CLI puts its root's bin first on PATH)."""
    from migrate.engine.workspace import TOOLS_ROOT

    (root / "bin").mkdir(parents=True)
    for tool in ("pulumi", "pulumi-resource-pulumi-python"):
        wrapper = root / "bin" / tool
        real = (TOOLS_ROOT / "bin" / tool).resolve()
        wrapper.write_text(f'#!/bin/sh\ncat /proc/$$/environ > "{record}/{tool}.$$" 2>/dev/null\nexec "{real}" "$@"\n')
        wrapper.chmod(0o755)


def environ_of(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return b""


def processes_holding(values: list[str]) -> list[str]:
    """Every live process whose environment holds one of ``values``: "pid cmdline"."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        environ = environ_of(int(entry.name))
        if any(value.encode() in environ for value in values):
            try:
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                command = "?"
            found.append(f"{entry.name} {command[:200]}")
    return found


@pytest.fixture(scope="module")
def deployed() -> Iterator[dict[str, Any]]:
    base = Path(tempfile.mkdtemp(prefix="migrate-childenv-", dir="/tmp"))
    base.chmod(0o755)
    (base / "chirp").symlink_to(CHIRP_SPEC.parent / "chirp")
    planted = planted_secrets()
    record = base / "tool-env"
    wrap_postgres_tools(base / "pgbin", record)
    wrap_the_engine(base / "pulumi-root", record)
    env = {
        **planted,
        "MIGRATE_HOME": str(base / "home"),
        "CHIRP_SESSION_KEY": secrets.token_urlsafe(24),
        "MIGRATE_PG_BIN": str(base / "pgbin"),
        "MIGRATE_PULUMI_ROOT": str(base / "pulumi-root"),
    }
    address = free_loopback_address()
    document = yaml.safe_load(CHIRP_SPEC.read_text())
    document["targets"] = {TARGET: {"provider": "local", "address": address}}
    spec = base / "migrate.yaml"
    spec.write_text(yaml.safe_dump(document, sort_keys=False))

    def cli(*args: str) -> Any:
        return run_cli(*args, "-f", str(spec), env=env)

    try:
        up = cli("up", "--to", TARGET, "--json")
        assert up.returncode == 0, up.stderr[-3000:]
        backup = cli("data", "backup", "--from", TARGET, "--to", str(base / "backups"), "--no-media", "--json")
        assert backup.returncode == 0, backup.stderr[-3000:]
        page = cli("holding-page", "up", "--bind", address, "--port", "8099", "--json")
        assert page.returncode == 0, page.stderr[-3000:]
        yield {"base": base, "planted": planted, "record": record, "env": env, "cli": cli, "address": address}
    finally:
        down = cli("holding-page", "down", "--bind", address, "--port", "8099", "--json")
        assert down.returncode == 0, down.stderr[-3000:]  # the page this fixture put up is stopped
        cli("destroy", "--target", TARGET, "--yes")
        for pid in layout.recorded_pids(base / "home" / "sandbox" / TARGET).values():
            os.killpg(os.getpgid(pid), 9)
        shutil.rmtree(base, ignore_errors=True)


def deployed_outputs(deployed: dict[str, Any]) -> TargetOutputs:
    """The target's outputs, read as the CLI reads them: with the CLI's environment (its home, the planted values)."""
    from migrate.engine.stack_outputs import load_outputs
    from migrate.spec.loader import load_spec

    saved = dict(os.environ)
    os.environ.update(deployed["env"])
    try:
        return load_outputs(load_spec(deployed["base"] / "migrate.yaml"), TARGET)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_no_live_process_holds_a_planted_secret(deployed: dict[str, Any]) -> None:
    recorded = layout.recorded_pids(deployed["base"] / "home" / "sandbox" / TARGET)
    assert {"postgres", "front"} <= set(recorded) or len(recorded) >= 4, recorded  # the servers are up
    for pid in recorded.values():
        assert environ_of(pid), f"cannot read /proc/{pid}/environ"
    assert processes_holding(list(deployed["planted"].values())) == []


def test_postgres_tools_and_the_engine_were_given_no_planted_secret(deployed: dict[str, Any]) -> None:
    """Also the Pulumi CLI (the Automation API would give it all of os.environ) and the
    dynamic-provider plugins it starts: the passphrase reaches them as a file."""
    records = sorted(deployed["record"].iterdir())
    tools = {path.name.split(".")[0] for path in records}
    assert {"postgres", "initdb", "pg_dump", "pulumi", "pulumi-resource-pulumi-python"} <= tools, tools
    engine_runs = [path.read_bytes() for path in records if path.name.startswith("pulumi.")]
    assert any(b"PULUMI_CONFIG_PASSPHRASE_FILE=" in env and b"MIGRATE_HOME=" in env for env in engine_runs)
    for path in records:
        environ = path.read_bytes()
        assert environ, path
        for name, value in deployed["planted"].items():
            assert value.encode() not in environ, f"{path.name} was given {name}"


def test_the_postmaster_environment_read_through_sql_holds_none(deployed: dict[str, Any]) -> None:
    import psycopg

    outputs = deployed_outputs(deployed)
    assert outputs.database_admin_url is not None
    with psycopg.connect(outputs.database_admin_url.get_secret_value(), connect_timeout=10) as conn:
        postmaster = conn.execute(
            "SELECT pg_read_file('postmaster.pid')"  # the data directory's pid file: line 1 is the postmaster
        ).fetchone()
        assert postmaster is not None
        postmaster_pid = int(str(postmaster[0]).split()[0])
        row = conn.execute("SELECT pg_read_binary_file(%s)", (f"/proc/{postmaster_pid}/environ",)).fetchone()
    assert row is not None
    environ = bytes(row[0])
    assert b"PATH=" in environ  # it read something real
    for name, value in deployed["planted"].items():
        assert value.encode() not in environ, f"the postmaster's environment holds {name}"


def test_the_s3_server_holds_its_key_pair_in_a_private_file_not_its_environment(deployed: dict[str, Any]) -> None:
    outputs = deployed_outputs(deployed)
    assert outputs.s3_secret_key is not None and outputs.s3_access_key is not None
    secret = outputs.s3_secret_key.get_secret_value().encode()
    pid = layout.recorded_pids(deployed["base"] / "home" / "sandbox" / TARGET)["s3"]
    environ = environ_of(pid)
    assert b"ROOT_SECRET_KEY=" in environ and secret not in environ  # only versitygw's throwaway root
    iam = deployed["base"] / "home" / "sandbox" / TARGET / "s3" / "data.iam"
    assert iam.stat().st_mode & 0o777 == 0o700
    assert (iam / "users.json").stat().st_mode & 0o777 == 0o600
    assert secret in (iam / "users.json").read_bytes()
