"""Start, watch and stop detached server processes."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from migrate.childenv import child_env
from migrate.errors import MigrateError


def spawn(
    argv: Sequence[str],
    log_path: Path,
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    user: str | None = None,
) -> int:
    """Start ``argv`` in its own session with output to ``log_path``; return its pid.

    Callers (Pulumi dynamic providers) have gRPC threads running. Python only uses vfork()
    when no preexec_fn, user or group is asked for; a plain fork() runs gRPC's atfork
    handlers in the child, which can abort it before exec (seen: "ev_epoll1_linux.cc Check
    failed" in a Postgres log, and a postmaster that never started). So another user is
    taken by exec'ing through ``setpriv`` (util-linux), not by Popen.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    if env is None:  # never the operator's whole environment (passphrase, tokens): see migrate.childenv
        env = child_env()
    command = list(argv)
    if user and os.geteuid() == 0:
        account = pwd.getpwnam(user)
        command = [
            _setpriv(),
            f"--reuid={account.pw_uid}",
            f"--regid={account.pw_gid}",
            "--init-groups",
            "--",
            *command,
        ]

    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
    return process.pid


def _setpriv() -> str:
    found = shutil.which("setpriv")
    if not found:
        raise MigrateError("setpriv not found: install util-linux (scripts/bootstrap)")
    return found


def alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(ChildProcessError):
        # Reap it if it is our own child that already exited.
        done, status = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            _EXIT_STATUS[pid] = status
            return False
    return not _is_zombie(pid)


_EXIT_STATUS: dict[int, int] = {}


def exit_description(pid: int | None) -> str:
    """How our child ``pid`` ended, if we reaped it: "exit status 1", "killed by SIGKILL"."""
    status = _EXIT_STATUS.get(pid or -1)
    if status is None:
        return "ended"
    if os.WIFSIGNALED(status):
        return f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exit status {os.WEXITSTATUS(status)}"


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] == "Z"


def port_open(host: str, port: int, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_until(
    ready: Callable[[], bool],
    *,
    what: str,
    timeout: float = 30.0,
    pid: int | None = None,
    log_path: Path | None = None,
) -> None:
    """Poll ``ready`` until true; fail early, with the log's tail, if the process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        if pid is not None and not alive(pid):
            raise MigrateError(f"{what} exited while starting ({exit_description(pid)}){_tail(log_path)}")
        time.sleep(0.05)
    raise MigrateError(f"{what} not ready after {timeout:.0f}s{_tail(log_path)}")


def start_server(
    argv: Sequence[str],
    log_path: Path,
    *,
    ready: Callable[[], bool],
    what: str,
    timeout: float,
    env: dict[str, str] | None = None,
    user: str | None = None,
) -> int:
    """Spawn a server and wait until ``ready``; one that does not come up is killed, never
    left half-started. Returns its pid."""
    pid = spawn(argv, log_path, env=env, user=user)
    try:
        wait_until(ready, what=what, timeout=timeout, pid=pid, log_path=log_path)
    except Exception:
        kill(pid)
        raise
    return pid


def _tail(log_path: Path | None) -> str:
    if log_path is None or not log_path.exists():
        return ""
    lines = log_path.read_text(errors="replace").strip().splitlines()[-3:]
    return (": " + " | ".join(line.strip() for line in lines)) if lines else ""


def stop(pid: int | None, *, timeout: float = 10.0, sig: int = signal.SIGTERM) -> None:
    """Ask the process (and its session) to stop; kill it if it does not in time."""
    if not alive(pid):
        return
    assert pid is not None
    _signal_group(pid, sig)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            return
        time.sleep(0.05)
    kill(pid)


def kill(pid: int | None) -> None:
    """SIGKILL the process and its whole session: no graceful step at all."""
    if pid and alive(pid):
        _signal_group(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.02)


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(os.getpgid(pid), sig)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


class ListeningServer:
    """A server we started, known by ``pid``, serving on ``host:port``."""

    host: str
    port: int
    pid: int | None

    def listening(self) -> bool:
        return port_open(self.host, self.port)

    def http_url(self, path: str = "") -> str:
        """``path`` on the server, for one that speaks plain HTTP (loopback only: no TLS)."""
        return f"http://{self.host}:{self.port}{path}"

    def stop(self) -> None:
        stop(self.pid)  # the module's stop(): SIGTERM, then SIGKILL after a while

    def kill(self) -> None:
        kill(self.pid)


def free_port(host: str = "127.0.0.1", low: int = 20000, high: int = 32000) -> int:
    """A port that is free now on ``host``, below Linux's ephemeral range."""
    import random

    for _ in range(200):
        port = random.randint(low, high)
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, port))
            except OSError:
                continue
            return port
    raise MigrateError(f"no free port on {host} between {low} and {high}")


def read_pid(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
