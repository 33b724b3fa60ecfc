"""The plugin check before an engine run: installed, installed through the workspace when the
source answers, or one line with the install command."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from migrate.engine.plugins import PluginMissingError, ensure_plugins, installed
from migrate.errors import MigrateError
from migrate.spec.loader import parse_spec
from tests.contract.shop import shop_spec_text
from tests.engine.helpers import free_loopback_address

SPEC = shop_spec_text("do: {provider: digitalocean, token: {env: DO_TOKEN}}")


class Workspace:
    """Stands in for ``LocalWorkspace.install_plugin`` (the Pulumi CLI download itself needs
    the internet): records the call, and puts the plugin where the CLI would."""

    def __init__(self, home: Path, fail: bool = False) -> None:
        self.home, self.fail = home, fail
        self.calls: list[tuple[str, str]] = []

    def install_plugin(self, name: str, version: str, kind: str = "resource") -> None:
        from pulumi.automation import CommandError

        self.calls.append((name, version))
        if self.fail:
            raise CommandError(type("R", (), {"stdout": "", "stderr": "error: 404 Not Found", "code": 255})())
        directory = self.home / "plugins" / f"resource-{name}-{version}"
        directory.mkdir(parents=True)
        (directory / f"pulumi-resource-{name}").write_text("#!/bin/sh\n")


@pytest.fixture
def source(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    monkeypatch.setenv("PULUMI_HOME", str(tmp_path / "pulumi"))
    monkeypatch.setenv("DO_TOKEN", "t")
    monkeypatch.delenv("MIGRATE_PLUGIN_INSTALL", raising=False)
    listener = socket.socket()
    listener.bind((free_loopback_address(), 0))
    listener.listen()
    host, port = listener.getsockname()
    monkeypatch.setenv("MIGRATE_PLUGIN_SOURCE", f"{host}:{port}")
    yield tmp_path / "pulumi"
    listener.close()


def test_a_missing_plugin_is_installed_through_the_workspace_when_the_source_answers(source: Path) -> None:
    spec = parse_spec(SPEC, "shop.yaml")
    assert not installed("digitalocean", "4.84.1")
    workspace = Workspace(source)
    ensure_plugins(spec, "do", workspace)  # type: ignore[arg-type]
    assert workspace.calls == [("digitalocean", "v4.84.1")]
    assert installed("digitalocean", "4.84.1")
    ensure_plugins(spec, "do", workspace)  # type: ignore[arg-type]
    assert len(workspace.calls) == 1  # already there: nothing to do


def test_a_failed_install_names_the_command(source: Path) -> None:
    spec = parse_spec(SPEC, "shop.yaml")
    with pytest.raises(MigrateError, match=r"pulumi plugin install resource digitalocean 4.84.1"):
        ensure_plugins(spec, "do", Workspace(source, fail=True))  # type: ignore[arg-type]


def test_no_source_no_install_exit_2(source: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MIGRATE_PLUGIN_INSTALL", "never")
    spec = parse_spec(SPEC, "shop.yaml")
    with pytest.raises(PluginMissingError) as raised:
        ensure_plugins(spec, "do", Workspace(source))  # type: ignore[arg-type]
    assert raised.value.exit_code == 2
    assert str(raised.value).count("\n") == 0 and "digitalocean 4.84.1" in str(raised.value)
