"""What a database holds, cheaply comparable: per table row count and an order-free content hash.

The content hash is the sum over rows of a 64-bit hash of the row as text, so the same rows in
any physical order give the same value, and a changed, missing or duplicated row changes it.
The hash is Postgres's own ``hashtextextended`` (the one hash partitioning relies on, so the
same on every version and server since 11): 2.4x cheaper per row than the first 64 bits of
md5, which fingerprints stored in older backups used (``row_hash``: "md5"; a destination is
then hashed the same way). Session settings that shape the text of a row are pinned on both sides.
Sequences (value, is_called) and extensions (name, version) are compared too.
"""

from __future__ import annotations

import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from migrate.data import schema_print
from migrate.data.comparison import Mismatch, SectionSummary, VerifyReport
from migrate.data.endpoints import PgEndpoint
from migrate.data.pgconn import connect
from migrate.data.progress import ProgressCallback, Reporter

PINNED = (
    "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; "
    "SET extra_float_digits = 3; SET bytea_output = 'hex'"
)
USER_SCHEMAS = (
    "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%' "
    "AND n.nspname NOT LIKE 'pg\\_temp%'"
)
NOT_FROM_EXTENSION = "NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')"
TABLES_SQL = f"""
SELECT n.nspname, c.relname, greatest(c.reltuples, 0)::bigint, pg_relation_size(c.oid)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND {USER_SCHEMAS} AND {NOT_FROM_EXTENSION}
ORDER BY pg_relation_size(c.oid) DESC"""
SEQUENCES_SQL = f"""
SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'S' AND {USER_SCHEMAS} AND {NOT_FROM_EXTENSION} ORDER BY 1, 2"""
EXTENSIONS_SQL = "SELECT extname, extversion FROM pg_extension ORDER BY 1"
LARGE_OBJECTS_SQL = (
    "SELECT oid, CASE WHEN pg_has_role(lomowner, 'USAGE') THEN md5(lo_get(oid)) END "
    "FROM pg_largeobject_metadata ORDER BY 1"
)
DB_SETTINGS_SQL = """
SELECT 'database setting', array_to_string(ARRAY(SELECT unnest(setconfig) ORDER BY 1), ', ')
    FROM pg_db_role_setting WHERE setrole = 0 AND setdatabase = (SELECT oid FROM pg_database
    WHERE datname = current_database())
UNION ALL SELECT 'database comment', shobj_description(oid, 'pg_database') FROM pg_database
    WHERE datname = current_database() AND shobj_description(oid, 'pg_database') IS NOT NULL"""
# Every role owning an object or holding a grant here: its attributes and settings.
ROLES_SQL = """
SELECT 'role ' || r.rolname, concat_ws(' ', CASE WHEN r.rolcanlogin THEN 'LOGIN' ELSE 'NOLOGIN' END,
    CASE WHEN r.rolinherit THEN 'INHERIT' ELSE 'NOINHERIT' END, CASE WHEN r.rolcreatedb THEN 'CREATEDB' END,
    CASE WHEN r.rolconnlimit >= 0 THEN 'CONNECTION LIMIT ' || r.rolconnlimit END,
    (SELECT string_agg(c, ', ' ORDER BY c) FROM pg_db_role_setting s, unnest(s.setconfig) c
     WHERE s.setrole = r.oid AND s.setdatabase IN (0, (SELECT oid FROM pg_database
     WHERE datname = current_database()))))
FROM pg_roles r WHERE r.rolname = ANY(%s)"""


@dataclass
class DbFingerprint:
    label: str
    tables: dict[str, tuple[int, str]] = field(default_factory=dict)  # name -> (rows, content hash)
    sequences: dict[str, tuple[int, bool]] = field(default_factory=dict)
    extensions: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    large_objects: dict[str, str] = field(default_factory=dict)  # oid -> md5 of its bytes
    schema: dict[str, str] = field(default_factory=dict)  # "TYPE schema.name" -> md5 (schema_print)
    settings: dict[str, str] = field(default_factory=dict)  # what the app relies on beside its objects
    row_hash: str = "hashtextextended"  # how ``tables``' content hashes were made (ROW_HASHES)

    def to_json(self) -> dict[str, Any]:
        return {
            "row_hash": self.row_hash,
            "tables": {k: list(v) for k, v in self.tables.items()},
            "sequences": {k: list(v) for k, v in self.sequences.items()},
            "extensions": self.extensions,
            "large_objects": self.large_objects,
            "schema": self.schema,
            "settings": self.settings,
        }

    @classmethod
    def from_dict(cls, label: str, data: dict[str, Any]) -> DbFingerprint:
        return cls(
            label,
            {k: (int(v[0]), str(v[1])) for k, v in data["tables"].items()},
            {k: (int(v[0]), bool(v[1])) for k, v in data["sequences"].items()},
            dict(data["extensions"]),
            large_objects=dict(data.get("large_objects", {})),
            schema=dict(data.get("schema", {})),
            settings=dict(data.get("settings", {})),
            row_hash=str(data.get("row_hash", "md5")),  # backups made before row_hash existed
        )


ROW_HASHES = {
    "hashtextextended": "hashtextextended(t::text, 0)::numeric",
    "md5": "('x' || substr(md5(t::text), 1, 16))::bit(64)::bigint::numeric",
}


def _settings(conn: Any, roles_too: bool = True) -> dict[str, str]:
    """Per-database settings, the database comment, and (``roles_too``) the roles the objects need.

    Not the roles after a ``--no-owner`` move, which creates none."""
    from migrate.data.roles import needed_roles

    found = {str(k): str(v) for k, v in conn.execute(DB_SETTINGS_SQL).fetchall() if v}
    if not roles_too:
        return found
    roles, _ = needed_roles(conn)
    names = [role.name for role in roles]
    found.update({str(k): str(v) for k, v in conn.execute(ROLES_SQL, (names,)).fetchall()})
    return found


def _quote(schema: str, name: str) -> str:
    return '"' + schema.replace('"', '""') + '"."' + name.replace('"', '""') + '"'


def _open(endpoint: PgEndpoint, snapshot: str | None) -> Any:
    conn = connect(endpoint, autocommit=False, what="verify")
    conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    if snapshot:
        conn.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
    for statement in PINNED.split("; "):
        conn.execute(statement)
    return conn


def fingerprint(
    endpoint: PgEndpoint,
    *,
    snapshot: str | None = None,
    workers: int = 2,
    progress: ProgressCallback | None = None,
    task: str = "verify postgres",
    owners: bool = True,
    row_hash: str = "hashtextextended",
) -> DbFingerprint:
    """Fingerprint every user table, sequence, large object, the schema (``owners``: with owners
    and grants) and the settings; ``snapshot`` (pg_export_snapshot) pins what is seen."""
    started = time.monotonic()
    result = DbFingerprint(endpoint.label, row_hash=row_hash)
    row_sum = ROW_HASHES[row_hash]
    dumping = schema_print.start(endpoint, snapshot=snapshot, owners=owners)
    first = _open(endpoint, snapshot)
    try:
        tables = first.execute(TABLES_SQL).fetchall()
        result.large_objects = {
            str(oid): digest or "unreadable" for oid, digest in first.execute(LARGE_OBJECTS_SQL).fetchall()
        }
        result.settings = _settings(first, roles_too=owners)
        for schema, name in first.execute(SEQUENCES_SQL).fetchall():
            value, called = first.execute(f"SELECT last_value, is_called FROM {_quote(schema, name)}").fetchone()
            result.sequences[f"{schema}.{name}"] = (int(value), bool(called))
        result.extensions = dict(first.execute(EXTENSIONS_SQL).fetchall())
        reporter = Reporter(progress, task, "rows")
        reporter.start(total=sum(int(t[2]) for t in tables) or None)
        conns = [first] + [_open(endpoint, snapshot) for _ in range(max(0, min(workers, len(tables)) - 1))]
        queues: list[list[tuple[str, str]]] = [[] for _ in conns]
        for index, (schema, name, _, _) in enumerate(tables):
            queues[index % len(conns)].append((schema, name))

        def run(conn: Any, queue: list[tuple[str, str]]) -> dict[str, tuple[int, str]]:
            found: dict[str, tuple[int, str]] = {}
            for schema, name in queue:
                rows, content = conn.execute(
                    f"SELECT count(*), coalesce(sum({row_sum}), 0) FROM {_quote(schema, name)} t"
                ).fetchone()
                found[f"{schema}.{name}"] = (int(rows), str(content))
                reporter.advance(int(rows))
            return found

        with ThreadPoolExecutor(len(conns)) as pool:
            for found in pool.map(run, conns, queues):
                result.tables.update(found)
        for conn in conns[1:]:
            conn.close()
    finally:
        first.close()
        if dumping.poll() is None and sys.exc_info()[0] is not None:
            dumping.kill()
    result.schema = schema_print.collect(dumping, endpoint.label)
    result.tables = dict(sorted(result.tables.items()))
    result.seconds = time.monotonic() - started
    return result


def compare(source: DbFingerprint, dest: DbFingerprint, area: str = "postgres") -> VerifyReport:
    if source.row_hash != dest.row_hash:  # content hashes made differently never match
        raise ValueError(f"fingerprints hashed by {source.row_hash} and {dest.row_hash} cannot be compared")
    report = VerifyReport()
    summary = SectionSummary(
        area=area,
        items=len(source.tables) + len(source.sequences),
        unit="rows",
        units=sum(rows for rows, _ in source.tables.values()),
        extra=len(set(dest.tables) - set(source.tables)),
    )
    for name, (rows, content) in source.tables.items():
        if name not in dest.tables:
            report.mismatches.append(Mismatch(area, name, "missing table", f"{rows} rows", "absent"))
        elif dest.tables[name][0] != rows:
            report.mismatches.append(Mismatch(area, name, "row count", str(rows), str(dest.tables[name][0])))
        elif dest.tables[name][1] != content:
            report.mismatches.append(Mismatch(area, name, "content hash", content, dest.tables[name][1]))
        else:
            summary.matched += 1
    for name, value in source.sequences.items():
        theirs = dest.sequences.get(name)
        if theirs is None:
            report.mismatches.append(Mismatch(area, name, "missing sequence", str(value[0]), "absent"))
        elif theirs < value:  # behind would hand out used ids; ahead (after a promote) is safe
            report.mismatches.append(Mismatch(area, name, "sequence", str(value[0]), str(theirs[0])))
        else:
            summary.matched += 1
    for oid, digest in source.large_objects.items():
        theirs_lo = dest.large_objects.get(oid)
        if theirs_lo != digest:
            kind = "missing large object" if theirs_lo is None else "large object bytes"
            report.mismatches.append(Mismatch(area, f"large object {oid}", kind, digest, theirs_lo or "absent"))
    for oid in sorted(set(dest.large_objects) - set(source.large_objects)):
        report.mismatches.append(Mismatch(area, f"large object {oid}", "only at the destination", "absent", "present"))
    if source.schema and dest.schema:  # a stored fingerprint from before schemas were printed has none
        for key, digest in source.schema.items():
            if key not in dest.schema:
                report.mismatches.append(Mismatch(area, key, "schema: missing"))
            elif dest.schema[key] != digest:
                report.mismatches.append(Mismatch(area, key, "schema: definition differs (pg_dump -s)"))
    for key, setting in source.settings.items():
        if dest.settings.get(key) != setting:
            report.mismatches.append(Mismatch(area, key, "setting", setting, dest.settings.get(key, "absent")))
    for name, version in source.extensions.items():
        if dest.extensions.get(name) != version:
            report.mismatches.append(
                Mismatch(area, f"extension {name}", "extension", version, dest.extensions.get(name, "absent"))
            )
    summary.seconds = source.seconds + dest.seconds
    report.sections.append(summary)
    report.seconds = max(source.seconds, dest.seconds)
    return report
