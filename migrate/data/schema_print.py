"""A normalised schema dump, one hash per object, so that verify names the object that differs.

``pg_dump --schema-only`` (no publications or subscriptions: replication's own) split at its
``-- Name: …; Type: …; Schema: …`` headers; session ``SET`` lines, comments and psql's
``\\restrict`` lines are dropped, so two databases with the same objects, owners and grants give
the same hashes whatever their OIDs or dump times. Objects a database owner cannot recreate at a
destination it does not superuse (the public schema, extensions' comments) are left out.
"""

from __future__ import annotations

import hashlib
import re
import subprocess

from migrate.data.endpoints import PgEndpoint
from migrate.data.pgconn import run_tool, tool_env, tool_error
from migrate.errors import MigrateError

_HEADER = re.compile(r"^-- (?:Data for )?Name: (.*); Type: (.*); Schema: (.*); Owner: .*$")
_SKIPPED = (("SCHEMA", "public"), ("COMMENT", "SCHEMA public"), ("COMMENT", "EXTENSION "))


def start(endpoint: PgEndpoint, *, snapshot: str | None = None, owners: bool = True) -> subprocess.Popen[str]:
    """Start the dump (it runs while the rows are hashed); ``collect`` reads it."""
    from providers.local.servers.postgres import pg_tool

    conninfo, env = tool_env(endpoint)
    argv = [pg_tool("pg_dump"), "--schema-only", "--no-publications", "--no-subscriptions", "-d", conninfo]
    argv += [f"--snapshot={snapshot}"] if snapshot else []
    argv += [] if owners else ["--no-owner", "--no-privileges"]
    return run_tool(argv, env, "pg_dump --schema-only")


def collect(process: subprocess.Popen[str], label: str) -> dict[str, str]:
    out, err = process.communicate()
    if process.returncode != 0:
        raise MigrateError(f"schema dump of {label} failed: {tool_error(err, process.returncode)}")
    return objects(out)


def objects(dump: str) -> dict[str, str]:
    """``TYPE schema.name`` → md5 of the object's normalised statements."""
    found: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in dump.splitlines():
        header = _HEADER.match(line)
        if header:
            name, kind, schema = header.groups()
            if any(kind == k and name.startswith(n) for k, n in _SKIPPED):
                current = None
                continue
            key = f"{kind} {schema}.{name}" if schema != "-" else f"{kind} {name}"
            current = found.setdefault(key, [])
            continue
        stripped = line.rstrip()
        if current is None or not stripped or stripped.startswith("--") or stripped.startswith("\\"):
            continue
        if stripped.startswith("SET ") or stripped.startswith("SELECT pg_catalog.set_config"):
            continue
        current.append(stripped)
    return {key: hashlib.md5("\n".join(lines).encode()).hexdigest() for key, lines in found.items() if lines}
