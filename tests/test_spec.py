"""The spec loader: every user mistake is one line naming file, line and field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import CHIRP_SPEC

BASE = CHIRP_SPEC.read_text()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "migrate.yaml"
    path.write_text(text)
    return path


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def assert_one_line_error(result, path: Path, line: int, field: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    errors = [e for e in result.stderr.splitlines() if e.startswith("error:")]
    assert errors, result.stderr
    assert any(f"{path}:{line}: {field}:" in e for e in errors), result.stderr


def test_chirp_spec_is_valid(cli):
    result = cli("validate", str(CHIRP_SPEC), "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["ok"] is True
    assert doc["targets"]["local-a"] == "local"
    assert set(doc["targets"].values()) >= {"local", "aws", "hetzner", "digitalocean", "vps", "kubernetes"}


# (replace this, with this) in chirp's spec -> the error's line (the first holding needle) and field.
ONE_LINE_ERRORS = {
    "wrong type": ("replicas: 2", "replicas: lots", "replicas: lots", "processes.web.replicas", ()),
    "unknown field": (
        "    health_path: /healthz\n",
        "    health_path: /healthz\n    helth: 1\n",
        "helth: 1",
        "processes.web.helth",
        (),
    ),
    "missing required field": ("  database: chirp\n", "", "postgres:", "postgres.database", ()),
    "inline secret in env": (
        "  CHIRP_LOG_LEVEL: info\n",
        "  CHIRP_LOG_LEVEL: info\n  DATABASE_PASSWORD: swordfish\n",
        "DATABASE_PASSWORD",
        "env.DATABASE_PASSWORD",
        (),
    ),
    "inline provider token": (
        "token: {env: HCLOUD_TOKEN}",
        "token: abcdef123456",
        "abcdef123456",
        "targets.hetzner-fsn.token",
        (),
    ),
    "unknown adapter": ("    provider: aws\n", "    provider: azure\n", "aws-prod:", "targets.aws-prod", ("azure",)),
    "adapter setting checked by adapter": (
        "region: us-west-2",
        "region: Oregon",
        "region: Oregon",
        "targets.aws-prod.region",
        (),
    ),
    "unknown dns provider reference": (
        "providers: [sandbox-bind, sandbox-knot]",
        "providers: [sandbox-bind, nowhere]",
        "nowhere",
        "dns.providers.1",
        (),
    ),
}


@pytest.mark.parametrize(
    ("old", "new", "needle", "field", "mentions"), ONE_LINE_ERRORS.values(), ids=ONE_LINE_ERRORS.keys()
)
def test_mistake_is_one_line_naming_file_line_field(tmp_path, cli, old, new, needle, field, mentions):
    text = BASE.replace(old, new)
    path = write(tmp_path, text)
    result = cli("validate", str(path))
    assert_one_line_error(result, path, line_of(text, needle), field)
    for word in mentions:
        assert word in result.stderr


def test_bad_yaml_indent(tmp_path, cli):
    text = BASE.replace("    port: 8080\n", "   port: 8080\n")
    path = write(tmp_path, text)
    result = cli("validate", str(path))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"{path}:" in result.stderr and "invalid YAML" in result.stderr


def test_inline_secret_is_refused(tmp_path, cli):
    text = BASE.replace("CHIRP_SESSION_KEY: {env: CHIRP_SESSION_KEY}", "CHIRP_SESSION_KEY: hunter2-very-secret")
    path = write(tmp_path, text)
    result = cli("validate", str(path))
    assert_one_line_error(result, path, line_of(text, "hunter2"), "secrets.CHIRP_SESSION_KEY")
    assert "inline" in result.stderr
    assert "hunter2" not in result.stderr


def test_missing_file_is_input_error(tmp_path, cli):
    result = cli("validate", str(tmp_path / "nope.yaml"))
    assert result.returncode == 2
    assert "no such spec file" in result.stderr and "Traceback" not in result.stderr


def test_schema_is_json_schema(cli):
    result = cli("schema")
    assert result.returncode == 0
    schema = json.loads(result.stdout)
    assert "targets" in schema["properties"]
    assert "local" in json.dumps(schema)


yaml_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=8))
yaml_values = st.recursive(
    yaml_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(
            st.sampled_from(
                ["service", "name", "targets", "dns", "provider", "records", "processes", "port", "x", "local-a"]
            ),
            children,
            max_size=4,
        ),
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=yaml_values, garbage=st.text(max_size=30))
def test_fuzz_never_tracebacks(doc, garbage, tmp_path_factory):
    from migrate.errors import SpecError
    from migrate.spec.loader import parse_spec

    for text in (yaml.safe_dump(doc), garbage, yaml.safe_dump(doc) + garbage):
        try:
            parse_spec(text, "fuzz.yaml")
        except SpecError as exc:
            assert exc.problems and all(p.startswith("fuzz.yaml:") for p in exc.problems)
