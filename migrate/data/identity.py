"""Replica identity: a published table must say how its rows are found, or its writes fail.

Postgres refuses an UPDATE or DELETE on a table that is in a publication and has no replica
identity (no primary key, identity ``DEFAULT`` or ``NOTHING``): with a standby attached, the
*source's* own writes would fail. Before publishing, every such table gets one: ``USING INDEX``
of its narrowest unique, non-partial, immediate index on NOT NULL columns, else ``FULL`` (the
whole old row is logged; duplicate rows are fine, at the price of more WAL per update). Each
change is returned as a ``Change`` for the replication journal, which ``replicate stop`` and
``promote`` undo at both sides.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from migrate.data.fingerprint import NOT_FROM_EXTENSION, USER_SCHEMAS

LEAVES_SQL = f"""
SELECT c.oid, format('%I.%I', n.nspname, c.relname), c.relreplident,
    (SELECT format('%I', i.relname) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
        WHERE x.indrelid = c.oid AND x.indisreplident),
    EXISTS (SELECT 1 FROM pg_index x WHERE x.indrelid = c.oid AND x.indisprimary)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND c.relpersistence = 'p' AND {USER_SCHEMAS} AND {NOT_FROM_EXTENSION} ORDER BY 2"""
CANDIDATE_SQL = """
SELECT format('%%I', i.relname) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
WHERE x.indrelid = %s AND x.indisunique AND x.indimmediate AND x.indisvalid AND x.indpred IS NULL
  AND x.indexprs IS NULL
  AND NOT EXISTS (SELECT 1 FROM unnest(x.indkey::int2[]) k
                  JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k WHERE NOT a.attnotnull)
ORDER BY x.indnatts, i.relname LIMIT 1"""


@dataclass(frozen=True)
class Change:
    """One table's replica identity as it was and as migrate set it (``d``, ``n``, ``f`` or ``i:<index>``)."""

    table: str
    was: str
    now: str

    def to_json(self) -> dict[str, str]:
        return asdict(self)

    def describe(self) -> str:
        how = "FULL" if self.now == "f" else f"USING INDEX {self.now[2:]}"
        return f"{self.table}: REPLICA IDENTITY {how}"


def _clause(code: str) -> str:
    if code.startswith("i:"):
        return f"USING INDEX {code[2:]}"
    return {"d": "DEFAULT", "n": "NOTHING", "f": "FULL"}[code]


def current(conn: Any) -> dict[str, str]:
    """Every user table's replica identity code."""
    return {
        table: (f"i:{index}" if ident == "i" and index else str(ident))
        for _, table, ident, index, _ in conn.execute(LEAVES_SQL).fetchall()
    }


def plan(conn: Any) -> list[Change]:
    """The tables (partitions included: they hold the rows) whose writes a publication would refuse."""
    changes = []
    for oid, table, ident, index, has_pk in conn.execute(LEAVES_SQL).fetchall():
        usable = ident == "f" or (ident == "d" and has_pk) or (ident == "i" and index)
        if usable:
            continue
        row = conn.execute(CANDIDATE_SQL, (oid,)).fetchone()
        was = f"i:{index}" if ident == "i" and index else str(ident)
        changes.append(Change(table, was, f"i:{row[0]}" if row else "f"))
    return changes


def apply(conn: Any, changes: list[Change], *, undo: bool = False) -> list[Change]:
    """Set (or with ``undo`` restore) each table's identity where the table still exists; return those done."""
    done = []
    have = current(conn)
    for change in changes:
        if change.table not in have:
            continue
        target = change.was if undo else change.now
        if have[change.table] == target:
            done.append(change)
            continue
        if target.startswith("i:"):
            schema = change.table.rsplit(".", 1)[0]
            exists = conn.execute("SELECT to_regclass(%s)", (f"{schema}.{target[2:]}",)).fetchone()[0]
            if exists is None:
                target = "d"  # the index is gone: the table's default is all that is left to restore
        conn.execute(f"ALTER TABLE {change.table} REPLICA IDENTITY {_clause(target)}")
        done.append(change)
    return done
