"""One process kind of the app (``web``, ``worker``): its replicas as real processes.

Replica ``i`` of a kind with a port listens on ``host:ports[i]``. Changing the
replica count starts or stops only the difference; changing the command or the
environment restarts the replicas one at a time (the front skips a restarting one).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, UpdateResult

from migrate.private_files import make_private_dir, write_private_file
from providers.local import layout
from providers.local.dynamic.base import (
    SandboxProvider,
    alive,
    clean_env,
    clean_errors,
    command_argv,
    inputs_of,
    remove_tree,
    spawned,
    stop,
)
from providers.local.dynamic.resource import DynamicResource
from providers.local.servers import process

START_TIMEOUT = 30.0


# A change to any of these restarts every replica (one at a time); "generation" is the stack's
# restart generation, bumped after a promotion for processes marked restart_after_promotion.
RESTART_ON = ("command", "env", "files", "cwd", "ports", "generation")


class AppProvider(SandboxProvider):
    update_on = (*RESTART_ON, "replicas", "ready", "start_timeout")
    replace_on = ("sandbox_dir", "name", "host")

    def running(self, outs: dict[str, Any]) -> bool:
        pids = outs.get("pids") or []
        return len(pids) == int(outs["replicas"]) and all(alive(entry) for entry in pids)

    @clean_errors
    def create(self, props: dict[str, Any]) -> CreateResult:
        inputs = inputs_of(props)
        try:
            pids = self._converge(inputs, [], restart=False)
        except BaseException:
            # All or nothing: replicas that did start must not outlive the failed create.
            directory = Path(inputs["sandbox_dir"])
            for name, pid in layout.recorded_pids(directory).items():
                if name.rpartition("-")[0] == inputs["name"]:
                    process.stop(pid, timeout=5)
                    layout.remove_pid(directory, name)
            raise
        return CreateResult(f"{inputs['name']}@{inputs['host']}", {**inputs, "pids": pids})

    @clean_errors
    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        inputs = inputs_of(news)
        restart = any(olds.get(key) != inputs.get(key) for key in RESTART_ON)
        pids = self._converge(inputs, list(olds.get("pids") or []), restart=restart)
        return UpdateResult({**inputs, "pids": pids})

    def _converge(self, inputs: dict[str, Any], pids: list[Any], *, restart: bool) -> list[list[int]]:
        """Make replicas ``0..replicas-1`` run the wanted command; stop the rest."""
        directory = Path(inputs["sandbox_dir"])
        name, replicas = inputs["name"], int(inputs["replicas"])
        ports: list[int] = [int(port) for port in inputs.get("ports") or []]
        for index in range(replicas, len(pids)):
            stop(directory, f"{name}-{index}", pids[index])
            remove_tree(layout.files_dir(directory, name, index))
        result: list[list[int]] = []
        waiting: list[tuple[int, int | None, Path]] = []
        for index in range(replicas):
            entry = pids[index] if index < len(pids) else None
            if entry and alive(entry) and not restart:
                result.append(list(entry))
                continue
            stop(directory, f"{name}-{index}", entry)
            port = ports[index] if index < len(ports) else None
            pid, log = self._spawn(inputs, index, port)
            result.append(spawned(directory, f"{name}-{index}", pid))
            waiting.append((pid, port, log))
            if restart and port is not None:
                # Rolling: the next replica goes down only once this one serves.
                self._wait(inputs, pid, port, log)
                waiting.pop()
        for pid, port, log in waiting:
            self._wait(inputs, pid, port, log)
        return result

    def _spawn(self, inputs: dict[str, Any], index: int, port: int | None) -> tuple[int, Path]:
        host = inputs["host"]
        files = _write_files(inputs, index)
        argv = command_argv(inputs["command"], host=host, port=port if port is not None else "", files=files)
        extra = {**inputs.get("env", {}), "HOST": host, "REPLICA": str(index)}
        if port is not None:
            extra["PORT"] = str(port)
        cwd = Path(inputs["cwd"])
        extra["PYTHONPATH"] = ":".join(filter(None, [str(cwd), extra.get("PYTHONPATH", "")]))
        log = Path(inputs["sandbox_dir"]) / "logs" / f"{inputs['name']}-{index}.log"
        pid = process.spawn(argv, log, env=clean_env(extra), cwd=cwd)
        return pid, log

    def _wait(self, inputs: dict[str, Any], pid: int, port: int | None, log: Path) -> None:
        """Until the replica is ready: the spec's readiness path answers with an expected status
        (an app may open its port long before it serves), else its port opens."""
        host, name = inputs["host"], inputs["name"]
        if port is None:
            # No port to watch: alive after a moment is as good as it gets.
            process.wait_until(lambda: True, what=name, timeout=1, pid=pid, log_path=log)
            if not process.alive(pid):
                raise RuntimeError(f"process {name} exited at start{process._tail(log)}")
            return
        ready = inputs.get("ready")
        timeout = float(inputs.get("start_timeout") or START_TIMEOUT)
        if ready:
            timeout = float(ready.get("timeout_seconds") or timeout)
            url = f"http://{host}:{port}{ready['path']}"
            statuses = [int(s) for s in ready.get("status") or [200]]
            process.wait_until(
                lambda: _answers(url, statuses),
                what=f"process {name}: {url} answering {statuses}",
                timeout=timeout,
                pid=pid,
                log_path=log,
            )
            return
        process.wait_until(
            lambda: process.port_open(host, port),
            what=f"process {name} on {host}:{port}",
            timeout=timeout,
            pid=pid,
            log_path=log,
        )

    @clean_errors
    def delete(self, _id: str, props: dict[str, Any]) -> None:
        directory = Path(props["sandbox_dir"])
        for index, entry in enumerate(props.get("pids") or []):
            stop(directory, f"{props['name']}-{index}", entry)
            (directory / "logs" / f"{props['name']}-{index}.log").unlink(missing_ok=True)
        for index in range(len(props.get("files") or [])):
            remove_tree(layout.files_dir(directory, props["name"], index))


def _write_files(inputs: dict[str, Any], index: int) -> str:
    """Replica ``index``'s config files, rewritten (0600 in a 0700 directory of its own); the
    directory, for ``{files}`` in the command. What the app keeps beside them (a media cache,
    a pid file) stays: the directory is removed only when the replica is."""
    directory = layout.files_dir(Path(inputs["sandbox_dir"]), inputs["name"], index)
    rendered = inputs.get("files") or []
    if index >= len(rendered):
        return str(directory)
    make_private_dir(directory)
    for file_name, text in rendered[index].items():
        write_private_file(directory / file_name, text)
    return str(directory)


def _answers(url: str, statuses: list[int]) -> bool:
    import httpx

    try:
        return httpx.get(url, timeout=2.0, trust_env=False).status_code in statuses
    except httpx.HTTPError:
        return False


class AppProcesses(DynamicResource, module="local", name="Process"):
    provider_type = AppProvider
    pids: pulumi.Output[list[list[int]]]

    def __init__(
        self,
        name: str,
        *,
        sandbox_dir: pulumi.Input[str],
        process_name: str,
        host: str,
        command: str,
        replicas: int,
        ports: list[int],
        cwd: str,
        env: pulumi.Input[dict[str, str]],
        files: pulumi.Input[list[dict[str, str]]] | None = None,
        ready: dict[str, Any] | None = None,
        start_timeout: float = START_TIMEOUT,
        generation: str = "",
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {
            "sandbox_dir": sandbox_dir,
            "name": process_name,
            "host": host,
            "command": command,
            "replicas": replicas,
            "ports": ports,
            "cwd": cwd,
            "env": env,
            "files": files,
            "ready": ready,
            "start_timeout": start_timeout,
            # Absent unless set: a stack deployed before generations existed sees no change.
            **({"generation": generation} if generation else {}),
        }
        super().__init__(name, props, opts)
