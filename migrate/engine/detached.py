"""Deploy a target in a process of its own session, so a killed caller never cuts a Pulumi update.

Why: the Pulumi CLI is a child of the process running the update, writing to its pipes. When a
failover is killed (kill -9, OOM, a lost machine session) in the middle of provisioning, the CLI
dies of SIGPIPE a moment later, halfway through the update: the stack stays locked, resources
being created are missing from the state while the orphaned provider plugin goes on creating
them, and the resumed ``up`` fails on what they left (a Postgres data directory "no stack
resource owns"). An update in its own session finishes (or fails) on its own terms whatever
happens to the caller: it records every resource, releases its lock, and its plugins end with
it. A resumed step first waits for an update still running from before, then converges with
one more ``up``.

``up_detached`` is the caller's side; ``python -m migrate.engine.detached SPEC TARGET FD`` the
update's, which writes one line per resource changed, then a JSON result line (secrets hidden),
to a log under MIGRATE_HOME, and the outputs themselves, secrets and all, to the pipe FD (never
to a file) so the caller need not read them from the state again.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from migrate.errors import MigrateError
from migrate.redact import redact

if TYPE_CHECKING:
    from migrate.outputs import TargetOutputs
    from migrate.spec.model import ServiceSpec

RESULT_PREFIX = "result: "
# Fault injection is for the caller's runbook engine, never for the update itself.
_NOT_INHERITED = ("MIGRATE_CRASH_AT", "MIGRATE_FAULT_AT", "MIGRATE_FAULT_RUN")


def referenced_variables(node: object) -> set[str]:
    """Every environment variable a ``{env: NAME}`` reference anywhere in the spec names."""
    from pydantic import BaseModel

    from migrate.spec.secrets import SecretRef

    if isinstance(node, SecretRef):
        return {node.env} if node.env else set()
    if isinstance(node, BaseModel):
        return referenced_variables(list(node.__dict__.values()))
    if isinstance(node, dict):
        return referenced_variables(list(node.values()))
    if isinstance(node, list | tuple | set | frozenset):
        return set().union(*(referenced_variables(item) for item in node)) if node else set()
    return set()


def detached_env(spec: ServiceSpec, target: str) -> dict[str, str]:
    """The detached update's environment: it is migrate itself, so the engine's variables (the
    passphrase included, never the backup key) and those the spec's references and the target's
    adapter name — not the operator's whole environment (other tokens, CI secrets)."""
    from migrate.childenv import migrate_child_env
    from migrate.engine.pulumi_cli import NETWORK_KEYS, engine_names
    from migrate.engine.workspace import engine_declared

    declared = engine_declared(spec, os.environ.get("PULUMI_BACKEND_URL", ""), target)
    names = [*referenced_variables(spec), *engine_names(os.environ, declared), *NETWORK_KEYS]
    env = {key: value for key, value in migrate_child_env(keep=names).items() if key not in _NOT_INHERITED}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [*sys.path, os.environ.get("PYTHONPATH", "")]))
    return env


def _files(service: str, target: str) -> tuple[Path, Path]:
    from migrate.home import migrate_home

    directory = migrate_home() / "updates"
    directory.mkdir(parents=True, exist_ok=True)
    return directory / f"{service}-{target}.json", directory / f"{service}-{target}.log"


def _start_time(pid: int) -> int | None:
    """The process's start time (clock ticks after boot): tells it from a later one with its pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return None if fields[0] == "Z" else int(fields[19])


def running_update(service: str, target: str) -> int | None:
    """The pid of a detached update of ``target`` that is still running, if any."""
    state, _ = _files(service, target)
    try:
        recorded = json.loads(state.read_text())
    except (OSError, ValueError):
        return None
    pid = int(recorded.get("pid", 0))
    return pid if pid and _start_time(pid) == recorded.get("start") else None


def _follow(log: Path, offset: int, on_line: Callable[[str], None]) -> int:
    """Hand on the log's complete new lines (not the result line); return the new offset."""
    try:
        with open(log, "rb") as handle:
            handle.seek(offset)
            chunk = handle.read()
    except OSError:
        return offset
    complete = chunk[: chunk.rfind(b"\n") + 1]
    for line in complete.decode(errors="replace").splitlines():
        if line.strip() and not line.startswith(RESULT_PREFIX):
            on_line(line.strip())
    return offset + len(complete)


def _wait(
    alive: Callable[[], bool],
    log: Path,
    on_line: Callable[[str], None],
    *,
    offset: int = 0,
    poll: float = 0.2,
    pipe: int | None = None,
) -> bytes:
    """Follow the log until the update ends; what it sent down ``pipe`` (read as it comes)."""
    received = bytearray()
    while True:
        running = alive()
        offset = _follow(log, offset, on_line)
        while pipe is not None and (chunk := _read_some(pipe)):
            received += chunk
        if not running:
            return bytes(received)
        time.sleep(poll)


def _read_some(fd: int) -> bytes:
    try:
        return os.read(fd, 65536)
    except BlockingIOError:
        return b""


def up_detached(
    spec: ServiceSpec, spec_path: Path, target: str, on_line: Callable[[str], None]
) -> tuple[TargetOutputs, dict[str, Any]]:
    """Run ``up`` of ``target`` in its own session and wait for it; its outputs and result document.

    An update started earlier (by a run that was killed) is waited for first. If this process
    is interrupted, the update goes on to its end; the next attempt waits for it the same way.
    """

    state, log = _files(spec.service.name, target)
    # The target's update lock: taken here and handed down to the update process, so it is held
    # while either lives. An update started by a run that was killed holds it to its end; two
    # updates of one target never overlap (nor write one log), whenever their callers die.
    lock = os.open(state.with_suffix(".lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        if not _try_lock(lock):
            earlier = running_update(spec.service.name, target)
            held = f" (pid {earlier})" if earlier else ""
            on_line(f"an earlier update of {target} is still running{held}: waiting for it to finish")
            offset = log.stat().st_size if log.exists() else 0
            _wait(lambda: not _try_lock(lock), log, on_line, offset=offset)
        return _run_update(spec, spec_path, target, on_line, state, log, lock)
    finally:
        os.close(lock)


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _run_update(
    spec: ServiceSpec, spec_path: Path, target: str, on_line: Callable[[str], None], state: Path, log: Path, lock: int
) -> tuple[TargetOutputs, dict[str, Any]]:
    from migrate.engine.stack import outputs_from_values

    env = detached_env(spec, target)
    reader, writer = os.pipe()
    try:
        with open(log, "wb") as output:
            process = subprocess.Popen(
                [sys.executable, "-m", "migrate.engine.detached", str(spec_path), target, str(writer)],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
                pass_fds=(writer, lock),
            )
        os.close(writer)
        state.write_text(json.dumps({"pid": process.pid, "start": _start_time(process.pid), "target": target}))
        os.set_blocking(reader, False)
        try:
            sent = _wait(lambda: process.poll() is None, log, on_line, pipe=reader)
        except KeyboardInterrupt:
            on_line(f"the update of {target} goes on in the background (pid {process.pid}, log {log})")
            raise
    finally:
        os.close(reader)
    result = _result(log)
    if result is None:
        raise MigrateError(f"the update of {target} ended (exit {process.returncode}) without a result; see {log}")
    if not result.get("ok"):
        raise MigrateError(str(result.get("error") or f"the update of {target} failed; see {log}"))
    try:
        values = json.loads(sent)
    except ValueError:
        raise MigrateError(f"the update of {target} succeeded but sent no outputs; see {log}") from None
    return outputs_from_values(spec, target, values), result


def _result(log: Path) -> dict[str, Any] | None:
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        if line.startswith(RESULT_PREFIX):
            document: dict[str, Any] = json.loads(line.removeprefix(RESULT_PREFIX))
            return document
    return None


def event_line(event: Any, target: str) -> str | None:
    """One line for a resource the engine finished (or failed); None for everything else."""
    from migrate.engine.events import DONE_VERB, resource_name, resource_type

    for meta, failed in (
        (getattr(event.res_outputs_event, "metadata", None), False),
        (getattr(event.res_op_failed_event, "metadata", None), True),
    ):
        if meta is None or meta.type.startswith(("pulumi:pulumi:Stack", "pulumi:providers:")):
            continue
        op = str(getattr(meta.op, "value", meta.op))
        if op == "same":
            continue
        verb = "FAILED" if failed else DONE_VERB.get(op, op)
        return f"{target}: {verb} {resource_name(meta.urn)} ({resource_type(meta.type)})"
    return None


def main(spec_path: str, target: str, outputs_fd: int) -> int:
    """The update itself: progress lines, then the result line, on stdout (the log); the outputs
    down the caller's pipe (if the caller is gone, nobody needs them)."""
    from pydantic import SecretStr

    from migrate.engine.stack import up
    from migrate.spec.loader import load_spec

    def on_event(event: Any) -> None:
        line = event_line(event, target)
        if line:
            print(redact(line), flush=True)

    started = time.monotonic()
    try:
        outputs = up(load_spec(spec_path), target, on_event=on_event)
    except MigrateError as exc:
        print(RESULT_PREFIX + json.dumps({"ok": False, "error": redact(str(exc))}), flush=True)
        return 1
    values = {
        key: value.get_secret_value() if isinstance(value, SecretStr) else value
        for key, value in outputs.model_dump().items()
    }
    try:
        with os.fdopen(outputs_fd, "w") as pipe:
            pipe.write(json.dumps(values))
    except OSError:
        pass  # the caller was killed: the resumed step reads the outputs from the state
    document = {"ok": True, "outputs": outputs.public_view(), "seconds": round(time.monotonic() - started, 2)}
    print(RESULT_PREFIX + redact(json.dumps(document)), flush=True)
    return 0


if __name__ == "__main__":
    exit_code = main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
    from migrate.engine.errors import engine_failed

    if engine_failed():  # the inline program may be stuck on the failed engine: do not wait for it
        sys.stdout.flush()
        os._exit(exit_code)
    sys.exit(exit_code)
