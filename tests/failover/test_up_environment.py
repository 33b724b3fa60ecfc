"""``migrate up`` in-process, and the detached update: no process they start holds the operator's secrets.

The Automation API would start the Pulumi CLI with ``{**os.environ, ...}`` and the CLI hands
its environment to every plugin it starts. Recognisable fake secrets are planted in the
environment of a real ``migrate up --to local-a`` on a private sandbox; while it runs, every
descendant of it (and every other process on the machine, in case one was reparented) is
read through ``/proc/<pid>/environ`` every few tens of milliseconds. None may hold a planted
value; the scan must have seen the engine itself (the Pulumi CLI and the dynamic-provider
plugin it starts) and the servers, or it proves nothing.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO
from tests.failover.private_sandbox import PrivateSandbox, private_sandbox

pytestmark = pytest.mark.slow


def planted_secrets() -> dict[str, str]:
    tag = secrets.token_hex(8)
    return {
        "PULUMI_CONFIG_PASSPHRASE": f"planted-passphrase-{tag}",  # the state's: only `migrate` may hold it
        "MIGRATE_BACKUP_KEY": f"planted-backup-key-{tag}",
        "AWS_SECRET_ACCESS_KEY": f"planted-aws-{tag}",
        "AWS_ACCESS_KEY_ID": f"AKIAPLANTED{tag.upper()}",
        "GITHUB_TOKEN": f"planted-github-{tag}",
        "CLOUDFLARE_API_TOKEN": f"planted-cloudflare-{tag}",
        "SOME_CI_DEPLOY_PASSWORD": f"planted-ci-{tag}",
    }


def parents() -> dict[int, int]:
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            found[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    return found


def descendants(root: int, tree: dict[int, int]) -> set[int]:
    children: dict[int, list[int]] = {}
    for pid, ppid in tree.items():
        children.setdefault(ppid, []).append(pid)
    found, todo = set(), [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


class Scanner(threading.Thread):
    """Reads the environment of every process but ``root`` (the operator's own `migrate up`,
    which holds what the operator gave it) and this test, until stopped."""

    def __init__(self, root: int, planted: dict[str, str], migrate_may_hold: frozenset[str] = frozenset()) -> None:
        super().__init__(daemon=True)
        self.root, self.planted, self.migrate_may_hold = root, planted, migrate_may_hold
        self.stop = threading.Event()
        self.seen: dict[int, str] = {}  # descendant pid -> its command line
        self.leaks: list[str] = []

    def run(self) -> None:
        values = {name: value.encode() for name, value in self.planted.items()}
        # A child caught between fork and exec still shows its parent's command line and
        # environment: one that shows migrate's own is migrate, not something it started.
        own = read(Path(f"/proc/{self.root}/cmdline"))
        while not self.stop.is_set():
            family = descendants(self.root, parents())
            for entry in Path("/proc").iterdir():
                if not entry.name.isdigit() or int(entry.name) in (self.root, os.getpid()):
                    continue
                pid = int(entry.name)
                environ = read(entry / "environ")
                if own and read(entry / "cmdline") == own:
                    continue
                if pid in family and pid not in self.seen and environ:
                    self.seen[pid] = read(entry / "cmdline").replace(b"\0", b" ").decode(errors="replace")
                for name, value in values.items():
                    if value in environ:
                        command = read(entry / "cmdline").replace(b"\0", b" ").decode(errors="replace")
                        if name in self.migrate_may_hold and " -m migrate" in f" {command}":
                            continue  # migrate itself (the detached update) holds the passphrase
                        self.leaks.append(f"{name} in {pid} {command[:160]}")
            time.sleep(0.03)


@pytest.fixture(scope="module")
def box() -> Iterator[PrivateSandbox]:
    sandbox = private_sandbox("migrate-upenv-")
    document = yaml.safe_load(sandbox.spec.read_text())
    # Another target whose adapter's plugin reads AWS_*: deploying local-a must not pass them on.
    document["targets"]["aws-prod"] = {"provider": "aws", "region": "us-west-2"}
    sandbox.spec.write_text(yaml.safe_dump(document, sort_keys=False))
    try:
        yield sandbox
    finally:
        for target in ("local-a", "local-b"):
            sandbox.cli("destroy", "--target", target, "--yes", env={"PULUMI_CONFIG_PASSPHRASE": PASSPHRASE})
        sandbox.clean_up()


PASSPHRASE = f"planted-passphrase-{secrets.token_hex(8)}"


def scanned_run(box: PrivateSandbox, *args: str, migrate_may_hold: frozenset[str] = frozenset()) -> list[str]:
    """Run the sandbox's Python with ``args`` and freshly planted secrets, scanning all the while;
    it must succeed and no process may hold a planted value. The command lines the scan saw."""
    planted = {**planted_secrets(), "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE}
    env = {**os.environ, "PYTHONPATH": str(REPO), **box.env, **planted}
    with subprocess.Popen(
        [str(REPO / ".venv" / "bin" / "python"), *args],
        env=env,
        cwd=box.base,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as run:
        scanner = Scanner(run.pid, planted, migrate_may_hold)
        scanner.start()
        try:
            _, stderr = run.communicate(timeout=600)
        finally:
            scanner.stop.set()
            scanner.join(timeout=30)
    assert run.returncode == 0, stderr[-3000:]
    assert scanner.leaks == [], scanner.leaks[:20]
    return list(scanner.seen.values())


def test_nothing_migrate_up_starts_holds_a_planted_secret(box: PrivateSandbox) -> None:
    commands = scanned_run(box, "-m", "migrate", "-f", str(box.spec), "up", "--to", "local-a")
    assert any(c.split()[0].endswith("/pulumi") for c in commands if c), commands  # the engine's CLI
    assert any("pulumi-resource-pulumi-python" in c or "pulumi.dynamic" in c for c in commands), commands
    assert any("postgres" in c for c in commands) and any("versitygw" in c for c in commands), commands


DETACHED = """
import sys
from pathlib import Path
from migrate.engine.detached import up_detached
from migrate.spec.loader import load_spec
spec_path = Path(sys.argv[1])
up_detached(load_spec(spec_path), spec_path, "local-b", lambda line: None)
"""


def test_nothing_the_detached_update_starts_holds_a_planted_secret(box: PrivateSandbox) -> None:
    """The update a failover provisions with runs in a process of its own (migrate itself,
    which may hold the passphrase); it and everything under it hold no other planted value."""
    commands = scanned_run(box, "-c", DETACHED, str(box.spec), migrate_may_hold=frozenset({"PULUMI_CONFIG_PASSPHRASE"}))
    assert any("migrate.engine.detached" in c for c in commands), commands
    assert any(c.split()[0].endswith("/pulumi") for c in commands if c), commands
    assert any("postgres" in c for c in commands), commands
