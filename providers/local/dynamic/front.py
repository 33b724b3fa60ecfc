"""The HTTP front on the target's port 80: a small reverse proxy over the web replicas."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, Resource, UpdateResult

from providers.local.dynamic.base import (
    REPO_ROOT,
    SandboxProvider,
    alive,
    clean_env,
    clean_errors,
    inputs_of,
    remove_tree,
    spawned,
    stop,
)
from providers.local.servers import process


class FrontProvider(SandboxProvider):
    update_on = ("backends",)
    replace_on = ("sandbox_dir", "host", "port")

    def running(self, outs: dict[str, Any]) -> bool:
        return alive(outs.get("pid")) and process.port_open(outs["host"], int(outs["port"]))

    @clean_errors
    def create(self, props: dict[str, Any]) -> CreateResult:
        inputs = inputs_of(props)
        try:
            outs = self._serve(inputs, None)
        except BaseException:
            self.delete("", inputs)  # all or nothing
            raise
        return CreateResult(f"{inputs['host']}:{inputs['port']}", outs)

    @clean_errors
    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(self._serve(inputs_of(news), olds.get("pid")))

    def _serve(self, inputs: dict[str, Any], pid_entry: list[int] | None) -> dict[str, Any]:
        directory = Path(inputs["sandbox_dir"]) / "front"
        directory.mkdir(parents=True, exist_ok=True)
        backends = directory / "backends.json"
        # The front re-reads this file when it changes: scaling needs no restart.
        temporary = backends.with_suffix(".tmp")
        temporary.write_text(json.dumps({"backends": inputs["backends"]}))
        os.replace(temporary, backends)
        host, port = inputs["host"], int(inputs["port"])
        if pid_entry and alive(pid_entry) and process.port_open(host, port):
            entry = list(pid_entry)
        else:
            stop(Path(inputs["sandbox_dir"]), "front", pid_entry)
            log = directory / "front.log"
            pid = process.spawn(
                [sys.executable, "-m", "providers.local.front", "--listen", f"{host}:{port}",
                 "--backends", str(backends)],
                log, env=clean_env({"PYTHONPATH": str(REPO_ROOT)}),
            )
            try:
                process.wait_until(lambda: process.port_open(host, port), what=f"HTTP front on {host}:{port}",
                                   timeout=15, pid=pid, log_path=log)
            except Exception:
                process.kill(pid)
                raise
            entry = spawned(Path(inputs["sandbox_dir"]), "front", pid)
        return {**inputs, "pid": entry}

    @clean_errors
    def delete(self, _id: str, props: dict[str, Any]) -> None:
        directory = Path(props["sandbox_dir"])
        stop(directory, "front", props.get("pid"), timeout=5)
        remove_tree(directory / "front")


class Front(Resource, module="local", name="Front"):
    def __init__(self, name: str, *, sandbox_dir: pulumi.Input[str], host: str, port: int, backends: list[str],
                 opts: pulumi.ResourceOptions | None = None) -> None:
        props = {"sandbox_dir": sandbox_dir, "host": host, "port": port, "backends": backends}
        super().__init__(FrontProvider(), name, props, opts)
