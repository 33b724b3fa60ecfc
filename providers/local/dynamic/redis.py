"""A redis-server on the target's address, protected by a generated password."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any, Unpack

import pulumi
from pulumi.dynamic import CreateResult, UpdateResult

from providers.local.dynamic.base import ServerProvider, clean_errors, inputs_of, spawned
from providers.local.dynamic.resource import DynamicResource, ServerInputs
from providers.local.servers.redis import RedisServer

SECRETS = ("password", "url")


class RedisProvider(ServerProvider):
    component = "redis"

    @clean_errors
    def create(self, props: dict[str, Any]) -> CreateResult:
        inputs = inputs_of(props)
        return self.created(inputs, lambda: self._serve(inputs, secrets.token_urlsafe(24), None))

    @clean_errors
    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(self._serve(inputs_of(news), olds["password"], olds.get("pid")))

    def _serve(self, inputs: dict[str, Any], password: str, pid_entry: list[int] | None) -> dict[str, Any]:
        directory = Path(inputs["sandbox_dir"])
        server = RedisServer(inputs["host"], int(inputs["port"]), directory / "redis", password)
        pid = self.resume_or_start(directory, server, pid_entry)
        return {**inputs, "password": password, "url": server.url, "pid": spawned(directory, "redis", pid)}


class Redis(DynamicResource, module="local", name="Redis"):
    provider_type = RedisProvider
    secret_outputs = SECRETS
    url: pulumi.Output[str]

    def __init__(
        self, name: str, *, opts: pulumi.ResourceOptions | None = None, **inputs: Unpack[ServerInputs]
    ) -> None:
        super().__init__(name, inputs, opts)
