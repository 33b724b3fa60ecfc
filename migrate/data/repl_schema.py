"""Schema drift between a replicating source and its standby, and carrying what is missing.

Logical replication carries rows, not DDL: a column added at the source makes the standby's
apply worker fail on every change (``is missing replicated column``), for every table, and a
table created at the source is not published at all. ``drift`` names both; ``carry`` adds the
missing tables (their own schema dump) and columns at the standby so that ``replicate start``
run again refreshes the subscription and replication resumes.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from migrate.data.endpoints import PgEndpoint
from migrate.data.fingerprint import NOT_FROM_EXTENSION, USER_SCHEMAS
from migrate.data.pgconn import finish_tool, run_tool, tool_env
from migrate.errors import MigrateError

COLUMNS_SQL = f"""
SELECT format('%I.%I', n.nspname, c.relname), quote_ident(a.attname), format_type(a.atttypid, a.atttypmod)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE c.relkind IN ('r', 'p') AND {USER_SCHEMAS} AND {NOT_FROM_EXTENSION} ORDER BY 1, a.attnum"""
PUBLISHED_SQL = """
SELECT format('%%I.%%I', n.nspname, c.relname) FROM pg_publication_rel r JOIN pg_publication p ON p.oid = r.prpubid
JOIN pg_class c ON c.oid = r.prrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE p.pubname = %s"""


def columns(conn: Any) -> dict[str, dict[str, str]]:
    """table → column → type, for every user table (partitions included)."""
    found: dict[str, dict[str, str]] = {}
    for table, column, kind in conn.execute(COLUMNS_SQL).fetchall():
        found.setdefault(table, {})[column] = kind
    return found


@dataclass
class Drift:
    missing_tables: list[str] = field(default_factory=list)
    missing_columns: list[tuple[str, str, str]] = field(default_factory=list)
    changed_types: list[tuple[str, str, str, str]] = field(default_factory=list)
    unpublished: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.missing_tables or self.missing_columns or self.changed_types or self.unpublished)

    def describe(self) -> str:
        parts = [f"table {t} is at the source only" for t in self.missing_tables]
        parts += [f"column {t}.{c} ({k}) is at the source only" for t, c, k in self.missing_columns]
        parts += [f"column {t}.{c} is {a} at the source, {b} at the standby" for t, c, a, b in self.changed_types]
        parts += [f"table {t} is not published" for t in self.unpublished if t not in self.missing_tables]
        return "; ".join(parts)


def drift(source: Any, dest: Any, publication: str, top_level: list[str]) -> Drift:
    """How the standby's schema lags the source's, for the tables the source has."""
    theirs, ours = columns(source), columns(dest)
    found = Drift()
    for table, cols in theirs.items():
        if table not in ours:
            found.missing_tables.append(table)
            continue
        for column, kind in cols.items():
            have = ours[table].get(column)
            if have is None:
                found.missing_columns.append((table, column, kind))
            elif have != kind:
                found.changed_types.append((table, column, kind, have))
    published = {row[0] for row in source.execute(PUBLISHED_SQL, (publication,)).fetchall()}
    found.unpublished = [table for table in top_level if table not in published]
    return found


def carry(source: PgEndpoint, dest_conn: Any, dest: PgEndpoint, found: Drift, work: Path) -> list[str]:
    """Create the missing tables (a schema dump of just them) and add the missing columns."""
    done = []
    if found.missing_tables:
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        try:
            conninfo, env = tool_env(source)
            script = work / "tables.sql"
            from providers.local.servers.postgres import pg_tool

            argv = [pg_tool("pg_dump"), "--schema-only", "--no-publications", "--no-subscriptions", "-f", str(script)]
            for table in found.missing_tables:
                argv += ["-t", table]
            finish_tool(run_tool([*argv, "-d", conninfo], env, "pg_dump"), f"pg_dump of new tables at {source.label}")
            dest_info, dest_env = tool_env(dest)
            psql = [pg_tool("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", str(script), "-d", dest_info]
            finish_tool(run_tool(psql, dest_env, "psql"), f"creating new tables at {dest.label}")
        finally:
            shutil.rmtree(work, ignore_errors=True)
        done += [f"created {table} at the standby" for table in found.missing_tables]
    for table, column, kind in found.missing_columns:
        dest_conn.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} {kind}")
        done.append(f"added {table}.{column} ({kind}) at the standby")
    if found.changed_types:
        raise MigrateError(
            f"schema drift the standby cannot follow by itself: {found.describe()}; change the standby's column "
            "types to match (ALTER TABLE ... ALTER COLUMN ... TYPE), then run replicate start again"
        )
    return done
