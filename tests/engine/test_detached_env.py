"""The drill's detached update is migrate itself, yet gets an environment built for it."""

from __future__ import annotations

import pytest

from migrate.engine.detached import detached_env, referenced_variables
from migrate.spec.loader import load_spec
from tests.conftest import CHIRP_SPEC

PLANTED = {
    "GITHUB_TOKEN": "planted-github",
    "MIGRATE_BACKUP_KEY": "planted-backup-key",
    "MIGRATE_TO_ADMIN_URL": "postgres://admin:planted@127.0.0.1/x",
    "AWS_SECRET_ACCESS_KEY": "planted-aws",
    "SOME_CI_PASSWORD": "planted-ci",
    "MIGRATE_FAULT_AT": "step:x",
}
NEEDED = {
    "PULUMI_CONFIG_PASSPHRASE": "the-passphrase",
    "MIGRATE_HOME": "/tmp/somewhere",
    "CHIRP_SESSION_KEY": "the-session-key",  # the spec's own {env:} reference
    "HCLOUD_TOKEN": "hetzner",  # another target's reference: the spec loads whole
    "HTTPS_PROXY": "http://proxy:3128",
}


def test_the_detached_update_gets_what_it_needs_and_nothing_else(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {**PLANTED, **NEEDED}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("PULUMI_BACKEND_URL", raising=False)
    spec = load_spec(CHIRP_SPEC)
    assert {"CHIRP_SESSION_KEY", "HCLOUD_TOKEN", "DIGITALOCEAN_TOKEN"} <= referenced_variables(spec)
    env = detached_env(spec, "local-a")
    for name, value in NEEDED.items():
        assert env.get(name) == value, name
    assert not set(PLANTED) & set(env), sorted(set(PLANTED) & set(env))
    assert "PATH" in env and "PYTHONPATH" in env
    # an aws target's update keeps the AWS credential chain its plugin reads
    assert detached_env(spec, "aws-prod").get("AWS_SECRET_ACCESS_KEY") == "planted-aws"
