"""The HTTP front on the target's port 80: a small reverse proxy over the web replicas."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Unpack

import pulumi

from providers.local.dynamic.base import (
    REPO_ROOT,
    ServerProvider,
    clean_env,
    serving,
    spawned,
    stop,
)
from providers.local.dynamic.resource import DynamicResource, ServerInputs
from providers.local.servers import process


class FrontProvider(ServerProvider):
    component = "front"
    update_on = ("backends",)

    def serve(self, inputs: dict[str, Any], kept: dict[str, Any]) -> dict[str, Any]:
        pid_entry = kept.get("pid")
        directory = Path(inputs["sandbox_dir"]) / "front"
        directory.mkdir(parents=True, exist_ok=True)
        backends = directory / "backends.json"
        # The front re-reads this file when it changes: scaling needs no restart.
        temporary = backends.with_suffix(".tmp")
        temporary.write_text(json.dumps({"backends": inputs["backends"]}))
        os.replace(temporary, backends)
        host, port = inputs["host"], int(inputs["port"])
        if pid_entry and serving(pid_entry, host, port):
            entry = list(pid_entry)
        else:
            stop(Path(inputs["sandbox_dir"]), "front", pid_entry)
            pid = process.start_server(
                [
                    sys.executable,
                    "-m",
                    "providers.local.front",
                    "--listen",
                    f"{host}:{port}",
                    "--backends",
                    str(backends),
                ],
                directory / "front.log",
                env=clean_env({"PYTHONPATH": str(REPO_ROOT)}),
                ready=lambda: process.port_open(host, port),
                what=f"HTTP front on {host}:{port}",
                timeout=15,
            )
            entry = spawned(Path(inputs["sandbox_dir"]), "front", pid)
        return {**inputs, "pid": entry}


class FrontInputs(ServerInputs):
    backends: list[str]  # host:port of each web replica


class Front(DynamicResource, module="local", name="Front"):
    provider_type = FrontProvider

    def __init__(self, name: str, *, opts: pulumi.ResourceOptions | None = None, **inputs: Unpack[FrontInputs]) -> None:
        super().__init__(name, inputs, opts)
