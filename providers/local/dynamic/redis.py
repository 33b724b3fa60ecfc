"""A redis-server on the target's address, protected by a generated password."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, Resource, UpdateResult

from providers.local.dynamic.base import SandboxProvider, alive, clean_errors, inputs_of, remove_tree, spawned, stop
from providers.local.servers import process
from providers.local.servers.redis import RedisServer

SECRETS = ["password", "url"]


class RedisProvider(SandboxProvider):
    replace_on = ("sandbox_dir", "host", "port")

    def running(self, outs: dict[str, Any]) -> bool:
        return alive(outs.get("pid")) and process.port_open(outs["host"], int(outs["port"]))

    @clean_errors
    def create(self, props: dict[str, Any]) -> CreateResult:
        inputs = inputs_of(props)
        try:
            outs = self._serve(inputs, secrets.token_urlsafe(24), None)
        except BaseException:
            self.delete("", inputs)  # all or nothing
            raise
        return CreateResult(f"{inputs['host']}:{inputs['port']}", outs)

    @clean_errors
    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(self._serve(inputs_of(news), olds["password"], olds.get("pid")))

    def _serve(self, inputs: dict[str, Any], password: str, pid_entry: list[int] | None) -> dict[str, Any]:
        directory = Path(inputs["sandbox_dir"])
        server = RedisServer(inputs["host"], int(inputs["port"]), directory / "redis", password)
        if pid_entry and alive(pid_entry) and process.port_open(server.host, server.port):
            server.pid = int(pid_entry[0])
        else:
            stop(directory, "redis", pid_entry)
            server.start()
        assert server.pid is not None
        return {**inputs, "password": password, "url": server.url,
                "pid": spawned(directory, "redis", server.pid)}

    @clean_errors
    def delete(self, _id: str, props: dict[str, Any]) -> None:
        directory = Path(props["sandbox_dir"])
        stop(directory, "redis", props.get("pid"), timeout=5)
        remove_tree(directory / "redis")


class Redis(Resource, module="local", name="Redis"):
    url: pulumi.Output[str]

    def __init__(self, name: str, *, sandbox_dir: pulumi.Input[str], host: str, port: int,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        props = {"sandbox_dir": sandbox_dir, "host": host, "port": port, "url": None}
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=SECRETS))
        super().__init__(RedisProvider(), name, props, opts)
