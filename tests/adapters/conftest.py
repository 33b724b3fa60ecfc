"""Fixtures for the adapter tests: chirp's spec, with its secrets' sources filled in."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrate.spec.loader import load_spec
from migrate.spec.model import ServiceSpec
from providers.vps.settings import VpsSettings
from tests.conftest import CHIRP_SPEC

SECRET_VALUES = {
    "CHIRP_SESSION_KEY": "chirp-session-key-value",
    "HCLOUD_TOKEN": "hcloud-token-value",
    "HETZNER_S3_ACCESS_KEY": "hetzner-access-value",
    "HETZNER_S3_SECRET_KEY": "hetzner-secret-value",
    "DIGITALOCEAN_TOKEN": "do-token-value",
    "SPACES_ACCESS_KEY_ID": "spaces-access-value",
    "SPACES_SECRET_ACCESS_KEY": "spaces-secret-value",
}


@pytest.fixture
def chirp(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> ServiceSpec:
    for key, value in SECRET_VALUES.items():
        monkeypatch.setenv(key, value)
    key_file = tmp_path / "chirp_deploy"
    key_file.write_text("ssh-private-key-value\n")
    spec = load_spec(CHIRP_SPEC)
    vps = spec.targets["vps-epik"]
    assert isinstance(vps, VpsSettings)
    hosts = [
        h.model_copy(update={"private_key": h.private_key.model_copy(update={"file": key_file})})
        if h.private_key
        else h
        for h in vps.hosts
    ]

    targets = {**spec.targets, "vps-epik": vps.model_copy(update={"hosts": hosts})}
    return spec.model_copy(update={"targets": targets})
