"""A read-only engine run writes nothing in the operator's Pulumi home, yet finds its plugins."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from migrate.engine.workspace import TOOLS_ROOT, engine_env, passphrase_env, read_only_engine


def tree(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.lstat().st_mode, p.lstat().st_mtime_ns) for p in root.rglob("*")}


def test_plugins_are_found_through_the_scratch_home_and_nothing_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = tmp_path / "pulumi-home"
    plugin = real / "plugins" / "resource-foo-v1.2.3"
    plugin.mkdir(parents=True)
    (plugin / "pulumi-resource-foo").write_text("#!/bin/sh\nexit 0\n")
    (plugin / "pulumi-resource-foo").chmod(0o755)
    (real / "plugins" / "resource-half-v0.1.0").mkdir()  # an install that did not finish
    (real / "plugins" / "resource-half-v0.1.0.partial").touch()
    monkeypatch.setenv("PULUMI_HOME", str(real))
    monkeypatch.setenv("MIGRATE_HOME", str(tmp_path / "migrate-home"))
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE", raising=False)
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE_FILE", raising=False)
    before = tree(real)
    with read_only_engine():
        env = engine_env("file:///nowhere")
        scratch = Path(env["PULUMI_HOME"])
        assert scratch != real and not scratch.is_relative_to(real)
        assert passphrase_env() == {}  # no passphrase is created for a read-only run
        listed = subprocess.run(
            [str(TOOLS_ROOT / "bin" / "pulumi"), "plugin", "ls", "--json"],
            env={
                "PATH": "/usr/bin:/bin",
                "HOME": str(tmp_path),
                "PULUMI_HOME": str(scratch),
                "PULUMI_SKIP_UPDATE_CHECK": "true",
            },
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        assert [(p["name"], p["version"]) for p in json.loads(listed.stdout)] == [("foo", "1.2.3")]
    assert not scratch.exists()  # the CLI's logs went there, and went with it
    assert tree(real) == before
    assert not (tmp_path / "migrate-home").exists()
