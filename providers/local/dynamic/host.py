"""The sandbox host: the target's directory and its claim on a loopback address."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypedDict, Unpack

import pulumi
from pulumi.dynamic import CreateResult, UpdateResult

from providers.local import layout
from providers.local.dynamic.base import SandboxProvider, clean_errors, inputs_of, remove_tree
from providers.local.dynamic.resource import DynamicResource
from providers.local.servers import postgres as pg
from providers.local.servers import process

MARKER = ".migrate-sandbox"


class HostProvider(SandboxProvider):
    update_on = ("http_port",)
    replace_on = ("address", "sandbox_dir")

    def running(self, outs: dict[str, Any]) -> bool:
        return (Path(outs["sandbox_dir"]) / MARKER).exists()

    @clean_errors
    def create(self, props: dict[str, Any]) -> CreateResult:
        inputs = inputs_of(props)
        self._prepare(inputs)
        return CreateResult(inputs["target"], inputs)

    @clean_errors
    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        inputs = inputs_of(news)
        self._prepare(inputs)
        return UpdateResult(inputs)

    def _prepare(self, inputs: dict[str, Any]) -> None:
        directory = Path(inputs["sandbox_dir"])
        fresh = not (directory / MARKER).exists()
        claim_directory(directory, inputs["target"])
        pg.traversable_dir(directory)
        if fresh:  # ours (created or empty when claimed): the postgres user must reach into it
            directory.chmod(0o755)
        address, port = inputs["address"], int(inputs["http_port"])
        if fresh and not layout.recorded_pids(directory) and process.port_open(address, port):
            raise RuntimeError(
                f"{address}:{port} is already in use by something else: give target "
                f"{inputs['target']!r} another address in the spec"
            )
        (directory / MARKER).write_text(f"{inputs['target']}\n")
        layout.run_dir(directory).mkdir(exist_ok=True)

    @clean_errors
    def delete(self, _id: str, props: dict[str, Any]) -> None:
        directory = Path(props["sandbox_dir"])
        # Anything still recorded (a resource whose delete was skipped) goes too.
        for pid in layout.recorded_pids(directory).values():
            process.kill(pid)
        if (directory / MARKER).exists():
            remove_tree(directory)


def claim_directory(directory: Path, target: str) -> None:
    """Make ``directory`` the target's own: create it, or take it only if it is empty.

    Anything else (someone's data, another target's sandbox) is refused before anything in it
    changes mode or is deleted: ``delete`` removes a directory only when it holds the marker.
    """
    marker = directory / MARKER
    if directory.is_symlink() or (directory.exists() and not directory.is_dir()):
        raise RuntimeError(f"base_dir {directory} is not a directory migrate can own (a file or a symlink)")
    if marker.exists():
        owner = marker.read_text(errors="replace").strip()
        if owner != target:
            raise RuntimeError(f"base_dir {directory} belongs to target {owner[:60]!r}, not {target!r}")
        return
    if directory.is_dir() and any(directory.iterdir()):
        raise RuntimeError(
            f"base_dir {directory} already exists and is not empty: migrate only uses a directory it "
            "creates (or an empty one); name a new path"
        )


class HostInputs(TypedDict):
    target: str
    address: str
    http_port: int
    sandbox_dir: str


class Host(DynamicResource, module="local", name="Host"):
    provider_type = HostProvider
    sandbox_dir: pulumi.Output[str]
    address: pulumi.Output[str]

    def __init__(self, name: str, *, opts: pulumi.ResourceOptions | None = None, **inputs: Unpack[HostInputs]) -> None:
        super().__init__(name, inputs, opts)
