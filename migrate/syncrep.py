"""A Postgres never waits on a synchronous standby that is gone.

``replicate start --sync`` names its subscription in the source's ``synchronous_standby_names``
(``ALTER SYSTEM``: it survives restarts). If the standby dies with it set, every commit at that
server waits on SyncRep forever — the app's and migrate's own. Before migrate writes to a
Postgres it calls ``ensure_not_waiting``: a standby migrate named (``migrate_<a>_to_<b>``) that
has no walsender is cleared when a superuser connection is at hand; otherwise, or when the
waited-for standby is not migrate's, it fails at once with one line saying what to do.
"""

from __future__ import annotations

import re
from typing import Any

from migrate.errors import MigrateError

MIGRATE_STANDBY = re.compile(r"^migrate_[a-z0-9_]+_to_[a-z0-9_]+$")
_NAME = re.compile(r'"((?:[^"]|"")*)"|([A-Za-z0-9_*]+)')
_KEYWORDS = {"first", "any"}


def standby_names(setting: str) -> list[str]:
    """The standby names in a ``synchronous_standby_names`` value (``FIRST 1 (a, "b")``, ``a,b``)."""
    names = []
    for quoted, bare in _NAME.findall(setting):
        if quoted:
            names.append(quoted.replace('""', '"'))
        elif bare and not bare.isdigit() and bare.lower() not in _KEYWORDS:
            names.append(bare.lower())
    return names


def waiting_on(conn: Any) -> tuple[str, list[str]]:
    """The setting and the named standbys that have no walsender streaming now."""
    setting = str(conn.execute("SHOW synchronous_standby_names").fetchone()[0]).strip()
    if not setting:
        return "", []
    names = standby_names(setting)
    connected = {
        str(row[0]).lower()
        for row in conn.execute(
            "SELECT application_name FROM pg_stat_replication WHERE state IN ('streaming', 'catchup')"
        ).fetchall()
        if row[0]
    }
    if "*" in names and connected:
        return setting, []
    absent = [name for name in names if name.lower() not in connected]
    return setting, absent if len(absent) == len(names) else []


def clear_migrate_standbys(conn: Any, names: list[str]) -> None:
    """Drop migrate's names from the setting (keeping any the operator set) and reload."""
    setting = str(conn.execute("SHOW synchronous_standby_names").fetchone()[0]).strip()
    keep = [name for name in standby_names(setting) if name not in names]
    if keep:
        quoted = ", ".join('"' + name.replace('"', '""') + '"' for name in keep)
        conn.execute("ALTER SYSTEM SET synchronous_standby_names TO " + "'" + quoted.replace("'", "''") + "'")
    else:
        conn.execute("ALTER SYSTEM RESET synchronous_standby_names")
    conn.execute("SELECT pg_reload_conf()")


def ensure_not_waiting(conn: Any, label: str, *, superuser: bool | None = None) -> list[str]:
    """Fail in one line, or clear migrate's own dead standby, before writing through ``conn``.

    Returns the names cleared. ``conn`` must be in autocommit mode.
    """
    setting, absent = waiting_on(conn)
    if not absent:
        return []
    ours = [name for name in absent if MIGRATE_STANDBY.match(name)]
    if superuser is None:
        superuser = bool(conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()[0])
    if ours and len(ours) == len(absent) and superuser:
        clear_migrate_standbys(conn, ours)
        return ours
    hint = (
        "give migrate a superuser URL for it (MIGRATE_FROM_ADMIN_URL / MIGRATE_TO_ADMIN_URL) so it can clear the "
        "standby it set, or run ALTER SYSTEM RESET synchronous_standby_names; SELECT pg_reload_conf()"
        if ours
        else "bring that standby back or clear synchronous_standby_names"
    )
    named = ", ".join(absent) + (f" (synchronous_standby_names = {setting!r})" if setting != ", ".join(absent) else "")
    raise MigrateError(
        f"Postgres at {label} waits for synchronous standby {named}, which is not connected: "
        f"every commit there would hang; {hint}"
    )
