"""Env values computed from a target's outputs, and the spec checks that catch a wrong reference."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from migrate.spec import envrefs
from migrate.spec.loader import load_spec
from tests.conftest import CHIRP_SPEC


def test_every_part_comes_from_the_outputs() -> None:
    values = envrefs.parts(
        domain="social.example",
        tls=True,
        database_url="postgresql://app%40x:p%2Fw@db.internal:6432/social?sslmode=require",
        s3_endpoint="https://s3.example:9000",
        s3_region="eu-1",
        s3_buckets={"media": "social-media-prod"},
        s3_access_key="AK",
        s3_secret_key="SK",
        redis_url="rediss://:tok@cache:6380/0",
    )
    assert values["db.host"] == "db.internal" and values["db.port"] == "6432" and values["db.name"] == "social"
    assert values["db.user"] == "app@x" and values["db.password"] == "p/w" and values["db.sslmode"] == "require"
    assert values["s3.host"] == "s3.example" and values["s3.port"] == "9000" and values["s3.tls"] == "true"
    assert values["bucket.media"] == "social-media-prod" and values["s3.region"] == "eu-1"
    assert values["redis.tls"] == "true" and values["redis.port"] == "6380"
    assert values["service.url"] == "https://social.example" and values["service.tls"] == "true"
    assert envrefs.expand("postgres://{db.host}:{db.port}", values) == "postgres://db.internal:6432"
    assert envrefs.is_secret("{db.password}") and not envrefs.is_secret("{db.host}")
    with pytest.raises(KeyError):
        envrefs.expand("{db.host}", {})


def _spec_with(tmp_path: Any, env: dict[str, str]) -> Any:
    document = yaml.safe_load(CHIRP_SPEC.read_text())
    document["env"].update(env)
    path = tmp_path / "migrate.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def test_a_secret_part_is_not_an_inline_secret(tmp_path: Any) -> None:
    spec = load_spec(_spec_with(tmp_path, {"APP_DB_PASSWORD": "{db.password}", "BUCKET": "{bucket.chirp-media}"}))
    assert spec.env["APP_DB_PASSWORD"] == "{db.password}"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("{db.hots}", "unknown; db has url, host"),
        ("{bucket.avatars}", "no bucket 'avatars'"),
    ],
)
def test_a_wrong_reference_names_the_field(tmp_path: Any, value: str, message: str) -> None:
    from migrate.errors import InputError

    with pytest.raises(InputError, match=message) as caught:
        load_spec(_spec_with(tmp_path, {"APP_X": value}))
    assert "APP_X" in str(caught.value)


def test_the_runbooks_manual_lines_come_from_the_spec() -> None:
    from tests.conftest import run_cli

    shown = run_cli("-f", str(CHIRP_SPEC), "runbook", "show", "failover", "--to", "local-b")
    assert shown.returncode == 0, shown.stderr
    assert "curl -fsS -H 'Host: chirp.test' http://ADDRESS-OF-local-b/healthz" in shown.stdout
    assert "dig @NAMESERVER chirp.test A" in shown.stdout and "chirp.example" not in shown.stdout


def test_a_command_runs_as_written() -> None:
    import sys

    from providers.local.dynamic.base import command_argv

    assert command_argv("python -m app --port {port}", port=8001) == ["python", "-m", "app", "--port", "8001"]
    assert command_argv("{python} -m app")[0] == sys.executable
