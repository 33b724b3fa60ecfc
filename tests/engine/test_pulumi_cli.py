"""Which of the operator's variables the Pulumi CLI is given (migrate/engine/pulumi_cli.py)."""

from __future__ import annotations

import pytest

from migrate.engine.pulumi_cli import engine_names
from migrate.engine.workspace import engine_declared
from migrate.spec.loader import load_spec
from tests.conftest import CHIRP_SPEC

OPERATOR = {
    "PATH": "/usr/bin",
    "PULUMI_BACKEND_URL": "file:///state",
    "PULUMI_CONFIG_PASSPHRASE": "not-for-the-engine",
    "MIGRATE_HOME": "/home/ops/.migrate",
    "MIGRATE_BACKUP_KEY": "not-for-the-engine",
    "AWS_PROFILE": "ops",
    "AWS_SECRET_ACCESS_KEY": "only-with-aws",
    "KUBECONFIG": "/home/ops/.kube/config",
    "GITHUB_TOKEN": "never",
    "HTTPS_PROXY": "http://proxy:3128",
}


def test_only_the_engines_own_and_the_declared_variables_pass() -> None:
    assert sorted(engine_names(OPERATOR, ())) == ["HTTPS_PROXY", "MIGRATE_HOME", "PULUMI_BACKEND_URL"]
    assert sorted(engine_names(OPERATOR, ("AWS_", "KUBECONFIG"))) == [
        "AWS_PROFILE",
        "AWS_SECRET_ACCESS_KEY",
        "HTTPS_PROXY",
        "KUBECONFIG",
        "MIGRATE_HOME",
        "PULUMI_BACKEND_URL",
    ]


def test_declared_names_follow_the_specs_targets_and_the_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("CHIRP_SESSION_KEY", "HCLOUD_TOKEN", "DIGITALOCEAN_TOKEN"):
        monkeypatch.setenv(key, "x")
    spec = load_spec(CHIRP_SPEC)
    local_only = spec.model_copy(update={"targets": {k: v for k, v in spec.targets.items() if v.provider == "local"}})
    assert engine_declared(local_only, "file:///state") == ()
    assert engine_declared(local_only, "s3://team-state") == ("AWS_",)
    assert set(engine_declared(spec, "file:///state")) == {"AWS_", "KUBECONFIG"}
    # An engine run for one target sees only what that target's adapter declares.
    assert engine_declared(spec, "file:///state", "local-a") == ()
    assert engine_declared(spec, "file:///state", "aws-prod") == ("AWS_",)
    assert engine_declared(spec, "s3://team-state", "local-a") == ("AWS_",)
