"""base_dir: migrate uses a directory it creates (or an empty one it then marks as its own),
and never chmods or deletes anyone else's."""

from __future__ import annotations

import os
import secrets
import shutil
import stat
import tempfile
from pathlib import Path

import pytest
import yaml

from providers.local.dynamic.host import MARKER, claim_directory
from tests.conftest import CHIRP_SPEC, run_cli
from tests.engine.helpers import free_loopback_address


def snapshot(root: Path) -> dict[str, tuple[int, bytes | None]]:
    found = {}
    for path in [root, *root.rglob("*")]:
        info = path.lstat()
        found[str(path)] = (stat.S_IMODE(info.st_mode), path.read_bytes() if path.is_file() else None)
    return found


def test_a_directory_holding_other_files_is_refused_untouched(tmp_path):
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o700)
    (theirs / "notes.txt").write_text("someone's data")
    before = snapshot(theirs)
    with pytest.raises(RuntimeError, match="not empty"):
        claim_directory(theirs, "local-a")
    assert snapshot(theirs) == before


def test_a_new_or_empty_directory_is_claimed(tmp_path):
    claim_directory(tmp_path / "new", "local-a")  # created later by the host provider
    empty = tmp_path / "empty"
    empty.mkdir()
    claim_directory(empty, "local-a")


def test_another_targets_directory_is_refused(tmp_path):
    (tmp_path / MARKER).write_text("local-b\n")
    with pytest.raises(RuntimeError, match="belongs to target"):
        claim_directory(tmp_path, "local-a")


def test_a_symlink_or_a_file_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    (tmp_path / "link").symlink_to(tmp_path / "file")
    for name in ("file", "link"):
        with pytest.raises(RuntimeError, match="not a directory migrate can own"):
            claim_directory(tmp_path / name, "local-a")


@pytest.mark.slow
def test_up_over_someone_elses_directory_fails_and_changes_nothing():
    base = Path(tempfile.mkdtemp(prefix="migrate-basedir-", dir="/tmp"))
    base.chmod(0o755)
    try:
        (base / "chirp").symlink_to(CHIRP_SPEC.parent / "chirp")
        theirs = base / "theirs"
        theirs.mkdir(mode=0o700)
        (theirs / "keep.db").write_bytes(b"precious")
        before = snapshot(theirs)
        document = yaml.safe_load(CHIRP_SPEC.read_text())
        document["targets"] = {
            "local-a": {"provider": "local", "address": free_loopback_address(), "base_dir": str(theirs)}
        }
        spec = base / "migrate.yaml"
        spec.write_text(yaml.safe_dump(document, sort_keys=False))
        env = {"MIGRATE_HOME": str(base / "home"), "CHIRP_SESSION_KEY": secrets.token_urlsafe(24)}
        up = run_cli("up", "--to", "local-a", "-f", str(spec), env=env)
        assert up.returncode != 0
        assert "not empty" in up.stderr and "Traceback" not in up.stderr, up.stderr[-2000:]
        destroy = run_cli("destroy", "--target", "local-a", "--yes", "-f", str(spec), env=env)
        assert "Traceback" not in destroy.stderr
        assert snapshot(theirs) == before
        assert os.stat(theirs).st_mode & 0o777 == 0o700
    finally:
        shutil.rmtree(base, ignore_errors=True)
