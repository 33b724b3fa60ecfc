"""An S3-compatible object store (moto server) on the target's address, with its buckets."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, Resource, UpdateResult

from providers.local import layout
from providers.local.dynamic.base import ServerProvider, clean_errors, inputs_of, remove_tree, spawned, stop
from providers.local.servers.s3 import S3Server, s3_client

SECRETS = ["access_key", "secret_key"]


class ObjectStoreProvider(ServerProvider):
    component = "s3"
    update_on = ("buckets", "region")

    @clean_errors
    def create(self, props: dict[str, Any]) -> CreateResult:
        inputs = inputs_of(props)
        # moto accepts any key pair; real providers will not, so every adapter issues one.
        keys = {"access_key": "AK" + secrets.token_hex(9).upper(), "secret_key": secrets.token_urlsafe(30)}
        return self.created(inputs, lambda: self._serve(inputs, keys, None))

    @clean_errors
    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        inputs = inputs_of(news)
        keys = {"access_key": olds["access_key"], "secret_key": olds["secret_key"]}
        return UpdateResult(self._serve(inputs, keys, olds.get("pid")))

    def _serve(self, inputs: dict[str, Any], keys: dict[str, str], pid_entry: list[int] | None) -> dict[str, Any]:
        directory = Path(inputs["sandbox_dir"])
        server = S3Server(inputs["host"], int(inputs["port"]), directory / "s3" / "moto.log")
        pid = self.resume_or_start(directory, server, pid_entry)
        client = s3_client(server.endpoint, keys["access_key"], keys["secret_key"], inputs["region"])
        layout.write_pid(directory, "s3", pid)
        existing = {bucket["Name"] for bucket in client.list_buckets().get("Buckets", [])}
        for bucket in inputs["buckets"]:
            if bucket not in existing:
                client.create_bucket(Bucket=bucket)
        return {**inputs, **keys, "endpoint": server.endpoint, "pid": spawned(directory, "s3", pid)}

    @clean_errors
    def delete(self, _id: str, props: dict[str, Any]) -> None:
        directory = Path(props["sandbox_dir"])
        entry = props.get("pid") or _recorded(directory, "s3")
        stop(directory, "s3", entry, timeout=5)
        remove_tree(directory / "s3")


class ObjectStore(Resource, module="local", name="ObjectStore"):
    endpoint: pulumi.Output[str]
    access_key: pulumi.Output[str]
    secret_key: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        sandbox_dir: pulumi.Input[str],
        host: str,
        port: int,
        region: str,
        buckets: list[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {
            "sandbox_dir": sandbox_dir,
            "host": host,
            "port": port,
            "region": region,
            "buckets": buckets,
            "endpoint": None,
            "access_key": None,
            "secret_key": None,
        }
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=SECRETS))
        super().__init__(ObjectStoreProvider(), name, props, opts)


def _recorded(directory: Path, name: str) -> list[int] | None:
    """The ``[pid, start_time]`` of a process only its pid file knows (a create that failed)."""
    pid = layout.recorded_pids(directory).get(name)
    return [pid, layout.start_time(pid) or 0] if pid else None
