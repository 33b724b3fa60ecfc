"""The target's S3 server (versitygw, objects as files under ``sandbox_dir/s3/data``), with its buckets,
and its change feed: the event listener versitygw's webhook posts to (``s3_events``), started
first because versitygw will not start without it, and kept running as long as the store."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any, Unpack

import pulumi

from providers.local import layout
from providers.local.dynamic.base import ServerProvider, clean_errors, remove_tree, serving, spawned, stop
from providers.local.dynamic.resource import DynamicResource, ServerInputs
from providers.local.servers.s3 import S3Server, s3_client
from providers.local.servers.s3_events import EventListener

SECRETS = ("access_key", "secret_key")
EVENTS = "s3-events"  # the listener's name in the target's run directory


class ObjectStoreProvider(ServerProvider):
    component = "s3"
    update_on = ("buckets", "region")
    replace_on = ("sandbox_dir", "host", "port", "events_port")

    def running(self, outs: dict[str, Any]) -> bool:
        return super().running(outs) and serving(outs.get("events_pid"), outs["host"], int(outs["events_port"]))

    def serve(self, inputs: dict[str, Any], kept: dict[str, Any]) -> dict[str, Any]:
        # The server's root key pair, issued once and kept in the (secret) state: a restart
        # after a kill serves the same objects to the same keys.
        if kept:
            keys = {"access_key": kept["access_key"], "secret_key": kept["secret_key"]}
        else:
            keys = {"access_key": "AK" + secrets.token_hex(9).upper(), "secret_key": secrets.token_urlsafe(30)}
        pid_entry, events_entry = kept.get("pid"), kept.get("events_pid")
        directory = Path(inputs["sandbox_dir"])
        listener = EventListener(inputs["host"], int(inputs["events_port"]), directory / "s3" / "events")
        if events_entry and serving(events_entry, listener.host, listener.port):
            listener.pid = int(events_entry[0])
        else:
            stop(directory, EVENTS, events_entry)
            listener.write_token(keys["secret_key"])
            listener.start()
        events = spawned(directory, EVENTS, listener.pid or 0)
        server = S3Server(
            inputs["host"],
            int(inputs["port"]),
            directory / "s3" / "data",
            keys["access_key"],
            keys["secret_key"],
            region=inputs["region"],
            event_webhook_url=listener.webhook_url,
        )
        pid = self.resume_or_start(directory, server, pid_entry)
        client = s3_client(server.endpoint, keys["access_key"], keys["secret_key"], inputs["region"])
        layout.write_pid(directory, "s3", pid)
        existing = {bucket["Name"] for bucket in client.list_buckets().get("Buckets", [])}
        for bucket in inputs["buckets"]:
            if bucket not in existing:
                client.create_bucket(Bucket=bucket)
        return {
            **inputs,
            **keys,
            "endpoint": server.endpoint,
            "events_url": listener.feed_url,
            "pid": spawned(directory, "s3", pid),
            "events_pid": events,
        }

    @clean_errors
    def delete(self, _id: str, props: dict[str, Any]) -> None:
        directory = Path(props["sandbox_dir"])
        entry = props.get("pid") or _recorded(directory, "s3")
        stop(directory, "s3", entry, timeout=5)
        stop(directory, EVENTS, props.get("events_pid") or _recorded(directory, EVENTS), timeout=5)
        remove_tree(directory / "s3")


class ObjectStoreInputs(ServerInputs):
    events_port: int  # the change feed's listener, on the same host
    region: str
    buckets: list[str]


class ObjectStore(DynamicResource, module="local", name="ObjectStore"):
    provider_type = ObjectStoreProvider
    secret_outputs = SECRETS
    endpoint: pulumi.Output[str]
    events_url: pulumi.Output[str]
    access_key: pulumi.Output[str]
    secret_key: pulumi.Output[str]

    def __init__(
        self, name: str, *, opts: pulumi.ResourceOptions | None = None, **inputs: Unpack[ObjectStoreInputs]
    ) -> None:
        super().__init__(name, inputs, opts)


def _recorded(directory: Path, name: str) -> list[int] | None:
    """The ``[pid, start_time]`` of a process only its pid file knows (a create that failed)."""
    pid = layout.recorded_pids(directory).get(name)
    return [pid, layout.start_time(pid) or 0] if pid else None
