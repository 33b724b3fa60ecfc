"""Connecting to Postgres and running its client tools without leaking the password."""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import signal
import subprocess
from typing import Any
from urllib.parse import unquote, urlsplit

from migrate.childenv import child_env
from migrate.data.endpoints import PgEndpoint
from migrate.errors import MigrateError
from migrate.redact import redact


def connect(endpoint: PgEndpoint, *, autocommit: bool = True, what: str = "connect") -> Any:
    """A psycopg connection, or one clear line naming the host when it cannot be had."""
    import psycopg

    try:
        return psycopg.connect(endpoint.dsn, autocommit=autocommit, connect_timeout=10, application_name="migrate-data")
    except psycopg.OperationalError as exc:
        detail = redact(str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__)
        raise MigrateError(f"cannot {what} to Postgres at {endpoint.label} ({endpoint.name}): {detail}") from None


def tool_env(endpoint: PgEndpoint) -> tuple[str, dict[str, str]]:
    """A conninfo without the password (it goes in PGPASSWORD: argv is world-readable)."""
    parts = urlsplit(endpoint.dsn)
    # not the operator's environment (passphrase, backup key): the TLS settings libpq reads, no more
    env = child_env(
        {"PGAPPNAME": "migrate-data", "PGCONNECT_TIMEOUT": "10"},
        keep=[key for key in os.environ if key.startswith("PGSSL")],
    )
    if parts.password:
        env["PGPASSWORD"] = unquote(parts.password)
    host = parts.hostname or "localhost"
    netloc = f"{parts.username}@" if parts.username else ""
    netloc += f"[{host}]" if ":" in host else host
    if parts.port:
        netloc += f":{parts.port}"
    conninfo = f"postgresql://{netloc}{parts.path}" + (f"?{parts.query}" if parts.query else "")
    return conninfo, env


def _die_with_parent() -> None:
    # A killed migrate must not leave pg_dump/pg_restore writing behind a re-run's back.
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


_GRPC_LOG = re.compile(r"^[EWID]\d{4} \d\d:\d\d:\d\d\.\d+ +\d+ \S+:\d+\]")


def run_tool(argv: list[str], env: dict[str, str], what: str, *, stdin: bool = False) -> subprocess.Popen[str]:
    """Start a Postgres tool that dies with us. Through ``setpriv --pdeathsig`` when there is one:
    a ``preexec_fn`` runs Python in a child forked from a process with threads, and with the
    Pulumi engine's gRPC threads alive (drills, failovers) that child can abort before exec."""
    pipes: dict[str, Any] = {
        "stdout": subprocess.PIPE,
        "stderr": subprocess.PIPE,
        "stdin": subprocess.PIPE if stdin else subprocess.DEVNULL,
    }
    setpriv = shutil.which("setpriv")
    if setpriv:
        return subprocess.Popen([setpriv, "--pdeathsig", "KILL", "--", *argv], env=env, text=True, **pipes)
    return subprocess.Popen(argv, env=env, text=True, preexec_fn=_die_with_parent, **pipes)


def finish_tool(process: subprocess.Popen[str], what: str, allowed_errors: int = 0) -> str:
    """Wait; fail with the tool's last meaningful line, redacted."""
    _, err = process.communicate()
    if process.returncode != 0:
        raise MigrateError(f"{what} failed: {tool_error(err, process.returncode)}")
    return err


def tool_error(stderr: str, returncode: int | None) -> str:
    """The line of a tool's stderr that explains its failure, redacted."""
    # Not the log lines gRPC (loaded by the Pulumi engine in this process) may print in the
    # forked child before exec: the tool's own last error is the one that explains.
    lines = [line for line in stderr.strip().splitlines() if line.strip() and not _GRPC_LOG.match(line)]
    interesting = [line for line in lines if "error" in line.lower()] or lines
    return redact(interesting[-1] if interesting else f"exit {returncode}")


def ensure_writable(endpoint: PgEndpoint, admin: PgEndpoint | None = None) -> list[str]:
    """Before writing to ``endpoint``: never wait on a dead synchronous standby (see ``syncrep``).

    With ``admin`` (a superuser there) a standby migrate named and lost is cleared; otherwise a
    dead synchronous standby fails the command in one line instead of hanging it.
    """
    from migrate.syncrep import ensure_not_waiting

    with connect(admin or endpoint, what="check synchronous replication at") as conn:
        return ensure_not_waiting(conn, endpoint.label)
