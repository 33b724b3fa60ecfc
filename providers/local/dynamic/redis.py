"""A redis-server on the target's address, protected by a generated password."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any, Unpack

import pulumi

from providers.local.dynamic.base import ServerProvider, spawned
from providers.local.dynamic.resource import DynamicResource, ServerInputs
from providers.local.servers.redis import RedisServer

SECRETS = ("password", "url")


class RedisProvider(ServerProvider):
    component = "redis"

    def serve(self, inputs: dict[str, Any], kept: dict[str, Any]) -> dict[str, Any]:
        password = kept["password"] if kept else secrets.token_urlsafe(24)
        directory = Path(inputs["sandbox_dir"])
        server = RedisServer(inputs["host"], int(inputs["port"]), directory / "redis", password)
        pid = self.resume_or_start(directory, server, kept.get("pid"))
        return {**inputs, "password": password, "url": server.url, "pid": spawned(directory, "redis", pid)}


class Redis(DynamicResource, module="local", name="Redis"):
    provider_type = RedisProvider
    secret_outputs = SECRETS
    url: pulumi.Output[str]

    def __init__(
        self, name: str, *, opts: pulumi.ResourceOptions | None = None, **inputs: Unpack[ServerInputs]
    ) -> None:
        super().__init__(name, inputs, opts)
