"""A Postgres 15 cluster on the target's address: its data under the sandbox directory."""

from __future__ import annotations

import logging
import secrets
from pathlib import Path
from typing import Any, NotRequired, Unpack

import pulumi
from pulumi.dynamic import CreateResult, UpdateResult

from migrate.errors import MigrateError
from providers.local.dynamic.base import ServerProvider, clean_errors, inputs_of, remove_tree, spawned
from providers.local.dynamic.resource import DynamicResource, ServerInputs
from providers.local.servers.postgres import PostgresServer

SECRETS = ("admin_password", "password", "url", "admin_url")


def _server(props: dict[str, Any], admin_password: str) -> PostgresServer:
    return PostgresServer(
        data_dir=Path(props["sandbox_dir"]) / "postgres" / "data",
        host=props["host"],
        port=int(props["port"]),
        superuser_password=admin_password,
    )


class PostgresProvider(ServerProvider):
    component = "postgres"
    update_on = ("database", "user", "locale")

    @clean_errors
    def create(self, props: dict[str, Any]) -> CreateResult:
        inputs = inputs_of(props)
        admin_password = secrets.token_urlsafe(24)
        password = secrets.token_urlsafe(24)
        server = _server(inputs, admin_password)
        if server.data_dir.exists():
            raise RuntimeError(
                f"{server.data_dir} exists but no stack resource owns it (left by a lost state?): "
                "restore the state, or remove the directory to start with an empty database"
            )
        try:
            server.init()
            outs = self._serve(server, inputs, password)
        except BaseException:
            # Create is all or nothing: a half-made cluster would be found by the next create.
            server.kill()
            remove_tree(server.data_dir.parent)
            raise
        return CreateResult(f"{inputs['host']}:{inputs['port']}", outs)

    @clean_errors
    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        inputs = inputs_of(news)
        server = _server(inputs, olds["admin_password"])
        return UpdateResult(self._serve(server, inputs, olds["password"]))

    def _serve(self, server: PostgresServer, inputs: dict[str, Any], password: str) -> dict[str, Any]:
        try:
            pid = server.start()
        except MigrateError as first:
            # Rare on a loaded machine: the postmaster dies before writing a line. Once more.
            logging.getLogger(__name__).warning("retrying Postgres start: %s", first)
            pid = server.start()
        server.ensure_database(inputs["user"], password, inputs["database"], inputs.get("locale"))
        return {
            **inputs,
            "pid": spawned(Path(inputs["sandbox_dir"]), "postgres", pid),
            "admin_password": server.superuser_password,
            "password": password,
            "url": server.url(inputs["user"], password, inputs["database"]),
            "admin_url": server.url(),
        }

    @clean_errors
    def delete(self, _id: str, props: dict[str, Any]) -> None:
        server = _server(props, props.get("admin_password", ""))
        server.kill()  # its data goes with it: no need for a clean shutdown
        remove_tree(Path(props["sandbox_dir"]) / "postgres")
        (Path(props["sandbox_dir"]) / "run" / "postgres.pid").unlink(missing_ok=True)


class PostgresInputs(ServerInputs):
    database: str
    user: str
    locale: NotRequired[str | None]  # the database's locale; None: the cluster's


class Postgres(DynamicResource, module="local", name="Postgres"):
    provider_type = PostgresProvider
    secret_outputs = SECRETS
    url: pulumi.Output[str]
    admin_url: pulumi.Output[str]

    def __init__(
        self, name: str, *, opts: pulumi.ResourceOptions | None = None, **inputs: Unpack[PostgresInputs]
    ) -> None:
        super().__init__(name, {"locale": None, **inputs}, opts)
