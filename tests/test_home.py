"""MIGRATE_HOME means one directory everywhere, and spec-relative paths are the spec's."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from migrate.home import migrate_home
from migrate.spec.loader import load_spec
from tests.conftest import CHIRP_SPEC, REPO


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("~/mh", lambda home, cwd: home / "mh"),
        ("", lambda home, cwd: cwd / ".migrate"),
        ("rel", lambda home, cwd: cwd / "rel"),
    ],
)
def test_one_meaning_for_every_value(value, expected, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MIGRATE_HOME", value)
    monkeypatch.chdir(tmp_path)
    assert migrate_home() == expected(tmp_path / "home", tmp_path)


def test_every_part_uses_the_same_home(tmp_path, monkeypatch):
    """The journals, manifests, state and sandboxes all sit under the one resolved home."""
    from migrate.data.manifest import data_dir
    from migrate.dns.journal import journal_path
    from migrate.engine.workspace import backend_url
    from migrate.runbook.journal import runs_dir
    from providers.local.layout import sandbox_dir

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("MIGRATE_HOME", "~/mh")
    monkeypatch.delenv("PULUMI_BACKEND_URL", raising=False)
    home = tmp_path / "mh"
    assert runs_dir().is_relative_to(home)
    assert journal_path("example.test.").is_relative_to(home)
    assert data_dir().is_relative_to(home)
    assert sandbox_dir("t").is_relative_to(home)
    assert str(home) in backend_url(None)


def test_relative_secret_file_is_taken_beside_the_spec(tmp_path):
    """A ``{file: key.secret}`` names the spec's neighbour, whatever the working directory."""
    spec_dir = tmp_path / "specdir"
    spec_dir.mkdir()
    text = CHIRP_SPEC.read_text()
    assert "{env: CHIRP_SESSION_KEY}" in text
    (spec_dir / "migrate.yaml").write_text(text.replace("{env: CHIRP_SESSION_KEY}", "{file: app.secret}"))
    (spec_dir / "app.secret").write_text("s3cret-value\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code = (
        "import sys; from migrate.spec.loader import load_spec;"
        "s = load_spec(sys.argv[1]);"
        "print([r.file for r in s.secrets.values() if r.file][0])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(spec_dir / "migrate.yaml")],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stderr
    assert Path(out.stdout.strip()) == spec_dir / "app.secret"
    assert load_spec(spec_dir / "migrate.yaml") is not None


def test_migrate_home_is_private_unless_the_sandboxs_postgres_user_must_pass(tmp_path, monkeypatch):
    import os

    from migrate.engine.workspace import backend_url

    monkeypatch.delenv("PULUMI_BACKEND_URL", raising=False)
    for euid, mode in ((1000, 0o700), (0, 0o711)):
        home = tmp_path / f"home-{euid}"
        monkeypatch.setenv("MIGRATE_HOME", str(home))
        monkeypatch.setattr(os, "geteuid", lambda euid=euid: euid)
        backend_url()
        assert home.stat().st_mode & 0o777 == mode
        assert (home / "state").stat().st_mode & 0o777 == 0o700
