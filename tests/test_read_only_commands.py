"""Read-only commands create nothing on disk: no MIGRATE_HOME, passphrase, state, Pulumi work
directory, Pulumi home entry (workspace file, automatic log) or TSIG key — neither before any
target is deployed nor once one is (where they must not rewrite what is there either).

Each command runs as the real CLI; MIGRATE_HOME, PULUMI_HOME and the working directory are
snapshotted before and after (every entry's type and mode, and each file's size and mtime, so
a file rewritten with the same bytes counts as written).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from providers.local import layout
from tests.conftest import CHIRP_SPEC, run_cli
from tests.engine.helpers import free_loopback_address

READ_ONLY = [
    ("validate",),
    ("status", "--json"),
    ("dns", "sandbox", "status", "--json"),
    ("dns", "status", "--json"),
    ("dns", "plan", "--address", "127.0.0.9", "--json"),
    ("dns", "verify", "--address", "127.0.0.9", "--json"),
    ("audit", "--json"),
    ("plan", "--to", "local-a", "--json"),
    ("failover", "--from", "local-a", "--to", "local-b", "--dry-run", "--json"),
    ("drill", "--from", "local-a", "--to", "local-b", "--dry-run", "--json"),
]


def snapshot(root: Path, *, exclude: tuple[Path, ...] = ()) -> dict[str, tuple[Any, ...]]:
    """Every entry under ``root``: its type and mode, and for a file or link its size and mtime."""
    entries: dict[str, tuple[Any, ...]] = {}
    for path in root.rglob("*"):
        if any(path == skip or skip in path.parents for skip in exclude):
            continue
        info = path.lstat()
        kind = stat.S_IFMT(info.st_mode)
        detail: tuple[Any, ...] = () if stat.S_ISDIR(info.st_mode) else (info.st_size, info.st_mtime_ns)
        entries[str(path.relative_to(root))] = (kind, info.st_mode & 0o7777, *detail)
    return entries


def changes(before: dict[str, tuple[Any, ...]], after: dict[str, tuple[Any, ...]]) -> dict[str, list[str]]:
    return {
        "created": sorted(set(after) - set(before)),
        "removed": sorted(set(before) - set(after)),
        "changed": sorted(key for key in set(before) & set(after) if before[key] != after[key]),
    }


NOTHING: dict[str, list[str]] = {"created": [], "removed": [], "changed": []}


@pytest.mark.parametrize("command", READ_ONLY, ids=[" ".join(c[:3]) for c in READ_ONLY])
def test_read_only_command_creates_nothing(tmp_path, command):
    (tmp_path / "chirp").symlink_to(CHIRP_SPEC.parent / "chirp")  # the app's code beside its spec
    spec = tmp_path / "migrate.yaml"
    spec.write_text(CHIRP_SPEC.read_text().replace(".migrate/sandbox/tsig.secret", str(tmp_path / "keys" / "tsig")))
    before = snapshot(tmp_path)
    env = {
        "MIGRATE_HOME": str(tmp_path / "home"),
        "PULUMI_HOME": str(tmp_path / "pulumi-home"),
        "CHIRP_SESSION_KEY": "read-only-test-key",
    }
    result = run_cli(*command, "-f", str(spec), env=env, cwd=tmp_path, timeout=300, unset=("PULUMI_CONFIG_PASSPHRASE",))
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode in (0, 1, 2), result.stderr
    if command[0] == "plan":  # a target never deployed is previewed in a scratch engine home
        assert result.returncode == 0 and '"create"' in result.stdout, result.stderr[-2000:]
    assert changes(before, snapshot(tmp_path)) == NOTHING, result.stderr[-2000:]


@pytest.fixture(scope="module")
def deployed() -> Iterator[dict[str, Any]]:
    """local-a deployed through the real engine (its state, passphrase, work directory and
    Pulumi home exist); local-b, in the same spec and state, never was."""
    base = Path(tempfile.mkdtemp(prefix="migrate-readonly-", dir="/tmp"))
    base.chmod(0o755)
    (base / "chirp").symlink_to(CHIRP_SPEC.parent / "chirp")
    text = CHIRP_SPEC.read_text().replace(".migrate/sandbox/tsig.secret", str(base / "keys" / "tsig"))
    document = yaml.safe_load(text)
    document["targets"] = {
        "local-a": {"provider": "local", "address": free_loopback_address()},
        "local-b": {"provider": "local", "address": free_loopback_address()},
    }
    spec = base / "migrate.yaml"
    spec.write_text(yaml.safe_dump(document, sort_keys=False))
    env = {
        "MIGRATE_HOME": str(base / "home"),
        "PULUMI_HOME": str(base / "pulumi-home"),
        "CHIRP_SESSION_KEY": secrets.token_urlsafe(24),
    }

    def cli(*args: str) -> Any:
        return run_cli(*args, "-f", str(spec), env=env, cwd=base, timeout=600, unset=("PULUMI_CONFIG_PASSPHRASE",))

    try:
        up = cli("up", "--to", "local-a", "--json")
        assert up.returncode == 0, up.stderr[-3000:]
        yield {"base": base, "cli": cli}
    finally:
        cli("destroy", "--target", "local-a", "--yes")
        for pid in layout.recorded_pids(base / "home" / "sandbox" / "local-a").values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(os.getpgid(pid), 9)
        shutil.rmtree(base, ignore_errors=True)


DEPLOYED_READ_ONLY = [
    *READ_ONLY,
    ("plan", "--to", "local-b", "--json"),
    ("dns", "plan", "--to", "local-a", "--json"),
]


@pytest.mark.slow
@pytest.mark.parametrize("command", DEPLOYED_READ_ONLY, ids=[" ".join(c[:4]) for c in DEPLOYED_READ_ONLY])
def test_read_only_command_writes_nothing_once_a_target_is_deployed(deployed, command):
    base: Path = deployed["base"]
    running = (base / "home" / "sandbox" / "local-a",)  # the deployed servers' own data and logs
    before = snapshot(base, exclude=running)
    assert (base / "home" / "passphrase").is_file() and any((base / "pulumi-home").iterdir())
    result = deployed["cli"](*command)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode in (0, 1, 2), result.stderr
    if command[0] == "plan":
        assert result.returncode == 0, result.stderr[-2000:]
        changes_planned = json.loads(result.stdout)["changes"]
        if command[2] == "local-b":  # never deployed: previewed in a scratch engine home
            assert changes_planned.get("create"), changes_planned
        else:  # deployed and running: nothing to do
            assert set(changes_planned) == {"same"}, changes_planned
    if command[0] == "failover":  # each step's plan read what is deployed: local-a answers
        assert result.returncode == 0, result.stderr[-2000:]
        steps = {step["id"]: step for step in json.loads(result.stdout)["steps"]}
        assert steps["preflight"]["plan"]["deployed now"] == {"local-a": True, "local-b": False}
        assert steps["data"]["plan"]["route"].startswith("sync"), steps["data"]["plan"]
        assert steps["holding-page"]["precondition"]["holds"] is False  # a planned move: no holding page
    assert changes(before, snapshot(base, exclude=running)) == NOTHING, result.stderr[-2000:]
