"""Read-only commands create nothing on disk: no MIGRATE_HOME, passphrase, state or TSIG key."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import CHIRP_SPEC, run_cli

READ_ONLY = [
    ("validate",),
    ("status", "--json"),
    ("dns", "sandbox", "status", "--json"),
    ("dns", "status", "--json"),
    ("dns", "plan", "--address", "127.0.0.9", "--json"),
    ("dns", "verify", "--address", "127.0.0.9", "--json"),
    ("audit", "--json"),
    ("plan", "--to", "local-a", "--json"),
]


def tree(root: Path) -> set[str]:
    return {str(path.relative_to(root)) for path in root.rglob("*")}


@pytest.mark.parametrize("command", READ_ONLY, ids=[" ".join(c[:3]) for c in READ_ONLY])
def test_read_only_command_creates_nothing(tmp_path, command):
    (tmp_path / "chirp").symlink_to(CHIRP_SPEC.parent / "chirp")  # the app's code beside its spec
    spec = tmp_path / "migrate.yaml"
    spec.write_text(CHIRP_SPEC.read_text().replace(".migrate/sandbox/tsig.secret", str(tmp_path / "keys" / "tsig")))
    before = tree(tmp_path)
    home = tmp_path / "home"
    env = {"MIGRATE_HOME": str(home), "CHIRP_SESSION_KEY": "read-only-test-key"}
    result = run_cli(*command, "-f", str(spec), env=env, cwd=tmp_path, timeout=300)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode in (0, 1, 2), result.stderr
    if command[0] == "plan":  # a target never deployed is previewed in a scratch engine home
        assert result.returncode == 0 and '"create"' in result.stdout, result.stderr[-2000:]
    assert tree(tmp_path) == before, (result.stderr[-2000:], tree(tmp_path) - before)
