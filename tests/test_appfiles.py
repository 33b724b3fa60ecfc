"""Process ``files:`` (config templates) and ``postgres.locale``: what ``validate`` refuses, in
one line naming the file, line and field, and how a template renders for one replica."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from migrate.spec.appfiles import render
from tests.apps.synapse import SYNAPSE_SPEC

BASE = SYNAPSE_SPEC.read_text()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "migrate.yaml"
    path.write_text(text)
    return path


def test_the_synapse_spec_is_valid(cli) -> None:
    result = cli("validate", str(SYNAPSE_SPEC), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["ok"] is True


FILE_ERRORS = {
    "unknown secret": (
        '"{secret.SYNAPSE_FORM_SECRET}"',
        '"{secret.NO_SUCH_SECRET}"',
        "form_secret:",
        "processes.homeserver.files.homeserver.yaml",
        "NO_SUCH_SECRET",
    ),
    "a file name with a directory": (
        "      log.yaml: |",
        "      ../log.yaml: |",
        "../log.yaml",
        "processes.homeserver.files",
        "file name",
    ),
    "a locale that is not one": ("  locale: C ", "  locale: 'C; DROP DATABASE x' ", "locale:", "postgres.locale", ""),
}


@pytest.mark.parametrize(("old", "new", "needle", "field", "mention"), FILE_ERRORS.values(), ids=FILE_ERRORS.keys())
def test_a_mistake_in_files_is_one_line(tmp_path, cli, old, new, needle, field, mention) -> None:
    assert old in BASE
    text = BASE.replace(old, new, 1)
    path = write(tmp_path, text)
    result = cli("validate", str(path))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert any(field in line and str(path) in line for line in errors), result.stderr
    assert mention in result.stderr


def test_a_secret_written_into_a_file_is_refused_without_echoing_it(tmp_path, cli) -> None:
    text = BASE.replace('"{secret.SYNAPSE_MACAROON_SECRET}"', "hunter2-written-out", 1)
    path = write(tmp_path, text)
    result = cli("validate", str(path))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "macaroon_secret_key looks like a secret written inline" in result.stderr
    assert "hunter2" not in result.stderr and "hunter2" not in result.stdout


def test_port_in_a_file_of_a_process_without_a_port_is_refused(tmp_path, cli) -> None:
    worker = '  worker:\n    command: "sleep 1000"\n    files:\n      w.conf: "listen {port}"\n'
    anchor = "\n# The server's identity"
    assert anchor in BASE
    text = BASE.replace(anchor, worker + anchor, 1)
    path = write(tmp_path, text)
    result = cli("validate", str(path))
    assert result.returncode == 2, result.stderr
    assert "processes.worker.files.w.conf" in result.stderr and "the process has no port" in result.stderr


def test_render_is_one_pass_per_replica_and_leaves_other_braces_alone() -> None:
    text = 'db: "{db.host}:{db.port}"\nkey: "{secret.K}"\nlisten: {host}:{port} #{replica} in {files}\nmap: {a: 1}\n'
    rendered = render(
        text,
        {"db.host": "10.0.0.5", "db.port": "5432"},
        # A value that looks like a reference is put in as it is, never expanded again.
        {"K": "{db.host}"},
        host="127.0.0.9",
        port=8008,
        replica=2,
        files="/srv/f/2",
    )
    assert rendered == ('db: "10.0.0.5:5432"\nkey: "{db.host}"\nlisten: 127.0.0.9:8008 #2 in /srv/f/2\nmap: {a: 1}\n')


def test_render_names_a_part_the_target_does_not_have() -> None:
    with pytest.raises(KeyError, match=r"redis\.url"):
        render("{redis.url}", {}, {}, host="h", port=None, replica=0, files="/f")
