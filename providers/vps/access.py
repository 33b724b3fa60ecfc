"""How the machine running migrate reaches a vps target's Postgres and Redis: SSH tunnels.

The stack admits those ports only from the app hosts, so ``data_access`` opens one SSH
session per host that serves them (the host key pinned: the spec's, else the one the stack
recorded at deploy, exported as ``ssh_host_keys``) and a local forward per URL, and returns
the outputs with those URLs pointing at 127.0.0.1. The object store's endpoint is the
storage host's own address (the apps reach it there too), so it is left as exported.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from pydantic import SecretStr

from migrate.errors import MigrateError
from migrate.redact import register_secret
from providers.vps.ssh import Endpoint, SshError
from providers.vps.tunnel import Tunnel

if TYPE_CHECKING:
    from contextlib import ExitStack

    from migrate.outputs import TargetOutputs
    from providers.vps.settings import SshHost, VpsSettings

TUNNELLED = {"database_url": 5432, "redis_url": 6379}


def tunnelled(target: str, settings: VpsSettings, outputs: TargetOutputs, stack: ExitStack) -> TargetOutputs:
    tunnels: dict[str, Tunnel] = {}
    changes: dict[str, SecretStr] = {}
    for field, default_port in TUNNELLED.items():
        secret = getattr(outputs, field)
        if secret is None:
            continue
        url = urlsplit(secret.get_secret_value())
        if not url.hostname:
            continue
        index, host = _host_serving(settings, url.hostname, target, field)
        if host.address not in tunnels:
            tunnels[host.address] = stack.enter_context(_open(target, index, host, outputs))
        try:
            address, port = tunnels[host.address].forward(url.hostname, url.port or default_port)
        except OSError as exc:
            raise MigrateError(f"target {target}: cannot open a local port for the {field} tunnel: {exc}") from None
        userinfo = url.netloc.rpartition("@")[0]
        rewritten = url._replace(netloc=f"{userinfo}@{address}:{port}" if userinfo else f"{address}:{port}").geturl()
        register_secret(rewritten)
        changes[field] = SecretStr(rewritten)
    return outputs.model_copy(update=changes) if changes else outputs


def _host_serving(settings: VpsSettings, address: str, target: str, field: str) -> tuple[int, SshHost]:
    """The host whose private (or public) address the URL names."""
    for index, host in enumerate(settings.hosts):
        if address in (host.private_address, host.address):
            return index, host
    raise MigrateError(f"target {target}: {field} names {address}, which is none of the target's hosts")


def _open(target: str, index: int, host: SshHost, outputs: TargetOutputs) -> Tunnel:
    label = f"targets.{target}.hosts[{index}]"
    if host.private_key is None:
        raise MigrateError(f"{label}.private_key: needed to reach the host's data services")
    pinned = host.host_key or outputs.ssh_host_keys.get(host.address)
    if not pinned:
        raise MigrateError(
            f"{label}: no pinned host key for the data tunnel: give host_key, or `migrate up --to {target}` "
            "to record the key the host presents"
        )
    endpoint = Endpoint(host.address, host.port, host.user, host.private_key.resolve(f"{label}.private_key"), pinned)
    try:
        return Tunnel(endpoint)
    except SshError as exc:
        raise MigrateError(f"target {target}: data tunnel: {exc}") from None
