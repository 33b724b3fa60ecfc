"""What every sandbox resource shares: diffs that notice dead processes, clean errors."""

from __future__ import annotations

import functools
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from pulumi.dynamic import CreateResult, DiffResult, ResourceProvider, UpdateResult

from migrate.childenv import child_env
from providers.local import layout
from providers.local.servers import process

if TYPE_CHECKING:
    from providers.local.servers.redis import RedisServer
    from providers.local.servers.s3 import S3Server

UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # pulumi.runtime.rpc.UNKNOWN: not known in a preview
REPO_ROOT = Path(__file__).resolve().parents[3]

F = TypeVar("F", bound=Callable[..., Any])


class ResourceError(Exception):
    """A failure the user can act on; its text is what the engine shows, not a traceback."""


def clean_errors(method: F) -> F:
    """Turn any failure into a one-line ``ResourceError`` (the engine prints its message)."""

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except ResourceError:
            raise
        except Exception as exc:
            raise ResourceError(f"{type(exc).__name__}: {exc}" if not str(exc).strip() else str(exc)) from exc

    return wrapper  # type: ignore[return-value]


class SandboxProvider(ResourceProvider):
    """Base provider: diff = changed inputs, plus "not running" when a process died."""

    # The pickle is a reference to the class and an empty instance: nothing secret in it.
    serialize_as_secret_always = False
    # Inputs whose change is an update in place; and those that need a new resource.
    update_on: ClassVar[tuple[str, ...]] = ()
    replace_on: ClassVar[tuple[str, ...]] = ()

    def running(self, outs: dict[str, Any]) -> bool:
        """Whether everything the resource started is alive and serving."""
        return True

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        keys = (*self.update_on, *self.replace_on)
        changed = [key for key in keys if _differs(olds.get(key), news.get(key))]
        replaces = [key for key in changed if key in self.replace_on]
        if not changed and not self.running(olds):
            # A dead process (a terminated host, a crash): the update restarts it.
            changed = ["running"]
        return DiffResult(changes=bool(changed), replaces=replaces, delete_before_replace=True)


class ServerProvider(SandboxProvider):
    """A resource that is one server process listening on its ``host:port``."""

    replace_on: ClassVar[tuple[str, ...]] = ("sandbox_dir", "host", "port")
    # Its name in the sandbox: the pid file's name and its directory under sandbox_dir.
    component: ClassVar[str]

    def running(self, outs: dict[str, Any]) -> bool:
        return serving(outs.get("pid"), outs["host"], int(outs["port"]))

    def serve(self, inputs: dict[str, Any], kept: dict[str, Any]) -> dict[str, Any]:
        """Serve ``inputs`` (start, or resume, the server) and return the outputs. ``kept`` is
        what the last create or update returned (its secrets, its pids); ``{}`` at create."""
        raise NotImplementedError

    @clean_errors
    def create(self, props: dict[str, Any]) -> CreateResult:
        """Create is all or nothing: when ``serve`` fails, ``delete`` removes what it began."""
        inputs = inputs_of(props)
        try:
            outs = self.serve(inputs, {})
        except BaseException:
            self.delete("", inputs)
            raise
        return CreateResult(f"{inputs['host']}:{inputs['port']}", outs)

    @clean_errors
    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(self.serve(inputs_of(news), olds))

    def resume_or_start(self, sandbox_dir: Path, server: RedisServer | S3Server, pid_entry: list[int] | None) -> int:
        """The server's pid: the recorded process while it still serves, else a fresh start."""
        if pid_entry and serving(pid_entry, server.host, server.port):
            server.pid = int(pid_entry[0])
            return server.pid
        stop(sandbox_dir, self.component, pid_entry)
        return server.start()

    @clean_errors
    def delete(self, _id: str, props: dict[str, Any]) -> None:
        directory = Path(props["sandbox_dir"])
        stop(directory, self.component, props.get("pid"), timeout=5)
        remove_tree(directory / self.component)


def serving(entry: list[int] | None, host: str, port: int) -> bool:
    """The process we recorded is still ours, alive, and accepting connections."""
    return alive(entry) and process.port_open(host, port)


def _differs(old: Any, new: Any) -> bool:
    if _has_unknown(new):
        return True
    return bool(old != new)


def _has_unknown(value: Any) -> bool:
    if value == UNKNOWN:
        return True
    if isinstance(value, dict):
        return any(_has_unknown(item) for item in value.values())
    if isinstance(value, list):
        return any(_has_unknown(item) for item in value)
    return False


def inputs_of(props: dict[str, Any]) -> dict[str, Any]:
    """The resource's inputs, without the engine's private keys."""
    return {key: value for key, value in props.items() if not key.startswith("__")}


def alive(entry: list[int] | tuple[int, int] | None) -> bool:
    """``entry`` is ``[pid, start_time]`` as recorded at spawn."""
    if not entry:
        return False
    pid, started = int(entry[0]), int(entry[1])
    return layout.same_process(pid, started)


def spawned(sandbox_dir: Path, name: str, pid: int) -> list[int]:
    """Record a started process in the target's run directory; return ``[pid, start_time]``."""
    layout.write_pid(sandbox_dir, name, pid)
    return [pid, layout.start_time(pid) or 0]


def stop(sandbox_dir: Path, name: str, entry: list[int] | None, timeout: float = 10.0) -> None:
    """Stop a process we started (SIGTERM to its session, SIGKILL after ``timeout``)."""
    if entry and alive(entry):
        process.stop(int(entry[0]), timeout=timeout)
    layout.remove_pid(sandbox_dir, name)


def command_argv(command: str, **placeholders: str | int) -> list[str]:
    """Split a spec command, run as written: a ``python`` in it is whatever ``python`` the PATH
    gives (the app's), never replaced. ``{python}`` names migrate's own interpreter, for an app
    that runs in migrate's environment (the examples)."""
    import shlex

    return [part.format(python=sys.executable, **placeholders) for part in shlex.split(command)]


BASE_ENV_KEYS = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "USER", "LOGNAME")


def clean_env(extra: dict[str, str]) -> dict[str, str]:
    """A process environment without the engine's (passphrase, backend) variables."""
    return child_env({"PYTHONUNBUFFERED": "1", **extra}, keep=BASE_ENV_KEYS)


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
