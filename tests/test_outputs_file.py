"""One reader for every outputs file: the wrong target, a FIFO or a huge file is one line, exit 2."""

from __future__ import annotations

import json
import os

import pytest

from tests.conftest import CHIRP_SPEC

OUTPUTS_A = {
    "target": "local-a",
    "provider": "local",
    "public_addresses": ["127.10.0.1"],
    "health_url": "http://127.10.0.1/healthz",
}


@pytest.mark.parametrize(
    "command",
    [
        ("dns", "plan", "--to", "local-b", "--outputs"),
        ("data", "verify", "--from", "local-b", "--to-outputs", "unused.json", "--from-outputs"),
    ],
)
def test_an_outputs_file_of_another_target_is_refused(tmp_path, cli, command):
    path = tmp_path / "a.json"
    path.write_text(json.dumps(OUTPUTS_A))
    result = cli("-f", str(CHIRP_SPEC), *command, str(path))
    assert result.returncode == 2, result.stderr
    assert "holds the outputs of target 'local-a', not 'local-b'" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_fifo_or_a_huge_file_is_refused_at_once(tmp_path, cli):
    fifo = tmp_path / "outputs.fifo"
    os.mkfifo(fifo)
    result = cli("-f", str(CHIRP_SPEC), "dns", "plan", "--outputs", str(fifo), timeout=20)
    assert result.returncode == 2 and "not a regular file" in result.stderr, result.stderr
    huge = tmp_path / "huge.json"
    huge.write_text('{"target": "x", "pad": "' + "A" * (2 << 20) + '"}')
    result = cli("-f", str(CHIRP_SPEC), "dns", "plan", "--outputs", str(huge), timeout=20)
    assert result.returncode == 2 and "not an outputs file" in result.stderr, result.stderr
    assert "AAAA" not in result.stderr


def test_one_loader_fills_the_same_defaults_for_both_command_groups(tmp_path):
    from migrate.outputs import TargetOutputs

    path = tmp_path / "local-b.json"
    path.write_text(json.dumps({"public_addresses": ["127.20.0.1"]}))
    outputs = TargetOutputs.from_file(path, "--outputs")
    assert (outputs.target, outputs.provider, outputs.health_url) == ("local-b", "outputs-file", "")
