"""The Pulumi resource plugins a target's stack needs, checked before the engine starts.

Each adapter declares its plugins (``HostingAdapter.plugins``). Before an engine run, each
is looked up where the Pulumi CLI keeps plugins (``$PULUMI_HOME/plugins``, default
``~/.pulumi/plugins``) and on ``PATH`` (ambient ``pulumi-resource-NAME``). A missing plugin is
installed through the Automation API when Pulumi's plugin source answers within a few
seconds; otherwise the run stops before the engine with one line naming the plugin, its
version and the command that installs it (exit 2). ``MIGRATE_PLUGIN_INSTALL=never`` skips
the download attempt (air-gapped machines, tests); a read-only ``plan`` never installs (it is
given no workspace), it names the plugin and the command.

Why before the engine: a Pulumi run whose program registers a resource of a provider the
engine cannot load fails inside the engine while the inline program is still waiting on
it; failing here is one clear line instead of an engine error.
"""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path
from typing import TYPE_CHECKING

from migrate.errors import InputError, MigrateError

if TYPE_CHECKING:
    from pulumi import automation as auto

    from migrate.spec.model import ServiceSpec

PLUGIN_SOURCE = ("get.pulumi.com", 443)
REACH_TIMEOUT = 3.0


class PluginMissingError(InputError):
    """A plugin the target's adapter needs is not installed and cannot be installed here."""


def plugin_home() -> Path:
    return Path(os.environ.get("PULUMI_HOME") or Path.home() / ".pulumi") / "plugins"


def installed(name: str, version: str) -> bool:
    """The plugin's binary is in Pulumi's plugin cache, or ambient on PATH."""
    directory = plugin_home() / f"resource-{name}-v{version.removeprefix('v')}"
    if (directory / f"pulumi-resource-{name}").exists() and not Path(f"{directory}.partial").exists():
        return True
    return shutil.which(f"pulumi-resource-{name}") is not None


def install_command(name: str, version: str) -> str:
    return f"pulumi plugin install resource {name} {version.removeprefix('v')}"


def source_reachable() -> bool:
    """Pulumi's plugin source (``MIGRATE_PLUGIN_SOURCE=HOST:PORT`` to probe another, e.g. a
    mirror) answers a TCP connect within a few seconds."""
    if os.environ.get("MIGRATE_PLUGIN_INSTALL", "auto").lower() in ("never", "off", "0", "no"):
        return False
    host, port = PLUGIN_SOURCE
    if os.environ.get("MIGRATE_PLUGIN_SOURCE"):
        host, _, number = os.environ["MIGRATE_PLUGIN_SOURCE"].rpartition(":")
        port = int(number) if number.isdigit() else 443
    try:
        with socket.create_connection((host, port), timeout=REACH_TIMEOUT):
            return True
    except OSError:
        return False


def missing_plugins(spec: ServiceSpec, target: str) -> list[tuple[str, str]]:
    from providers.registry import hosting_adapter

    adapter = hosting_adapter(spec.target(target).provider)
    return [(name, version) for name, version in adapter.plugins if not installed(name, version)]


def ensure_plugins(spec: ServiceSpec, target: str, workspace: auto.LocalWorkspace | None = None) -> None:
    """Every plugin ``target`` needs is installed (installing it if the source answers), or
    ``PluginMissingError`` naming the first missing one and how to install it."""
    missing = missing_plugins(spec, target)
    if not missing:
        return
    provider = spec.target(target).provider
    if workspace is not None and source_reachable():
        from pulumi import automation as auto

        for name, version in missing:
            try:
                workspace.install_plugin(name, f"v{version.removeprefix('v')}")
            except auto.CommandError as exc:
                raise MigrateError(
                    f"target {target!r} ({provider}): installing the Pulumi plugin {name} {version} failed "
                    f"({str(exc).strip().splitlines()[-1] if str(exc).strip() else exc}); install it with: "
                    f"{install_command(name, version)}"
                ) from None
        missing = missing_plugins(spec, target)
        if not missing:
            return
    names = ", ".join(f"{n} {v}" for n, v in missing)
    raise PluginMissingError(
        f"target {target!r} ({provider}) needs the Pulumi plugin{'s' if len(missing) > 1 else ''} {names}, "
        f"not installed and not downloadable here: install {'them' if len(missing) > 1 else 'it'} with "
        + "; ".join(install_command(n, v) for n, v in missing)
    )
