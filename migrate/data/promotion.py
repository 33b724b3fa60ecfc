"""What logical replication does not carry, done at promotion: sequences, large objects, matviews.

Sequences: with the source alive, every sequence's value is copied. With the source dead, every
sequence (owned by a column, or free-standing and used by a column default or by the app's own
``nextval()``) is moved to the greatest of: the largest value any column that draws from it holds
on the standby, the last value migrate read at the source (at ``start`` and each ``status``),
and its own value — plus ``SAFETY_MARGIN`` steps: an asynchronous standby may lack the source's
last commits, and the app may have drawn values since migrate's last reading.
"""

from __future__ import annotations

from typing import Any

from migrate.data.fingerprint import NOT_FROM_EXTENSION, USER_SCHEMAS

SAFETY_MARGIN = 100_000
SEQUENCES_SQL = f"""
SELECT c.oid, format('%I.%I', n.nspname, c.relname), s.seqincrement, s.seqmax, s.seqmin
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_sequence s ON s.seqrelid = c.oid
WHERE c.relkind = 'S' AND {USER_SCHEMAS} AND {NOT_FROM_EXTENSION} ORDER BY 2"""
# Columns that draw from a sequence: owned (serial, identity) or through their default.
DRAWING_COLUMNS_SQL = """
SELECT format('%%I.%%I', tn.nspname, t.relname), quote_ident(a.attname) FROM (
    SELECT d.refobjid AS rel, d.refobjsubid AS att FROM pg_depend d
        WHERE d.objid = %(seq)s AND d.classid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
    UNION SELECT ad.adrelid, ad.adnum FROM pg_depend d JOIN pg_attrdef ad ON ad.oid = d.objid
        WHERE d.refobjid = %(seq)s AND d.classid = 'pg_attrdef'::regclass
) used JOIN pg_class t ON t.oid = used.rel JOIN pg_namespace tn ON tn.oid = t.relnamespace
JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = used.att
WHERE t.relkind IN ('r', 'p') AND format_type(a.atttypid, NULL) IN ('smallint', 'integer', 'bigint', 'numeric')"""


def read_sequences(conn: Any) -> dict[str, tuple[int, bool]]:
    """Every user sequence's (last_value, is_called)."""
    values = {}
    for _, name, *_ in conn.execute(SEQUENCES_SQL).fetchall():
        value, called = conn.execute(f"SELECT last_value, is_called FROM {name}").fetchone()
        values[name] = (int(value), bool(called))
    return values


def copy_sequences(values: dict[str, tuple[int, bool]], dest: Any) -> int:
    """Set the standby's sequences to the source's values."""
    count = 0
    have = {row[1] for row in dest.execute(SEQUENCES_SQL).fetchall()}
    for name, (value, called) in values.items():
        if name in have:
            dest.execute("SELECT setval(%s::regclass, %s, %s)", (name, value, called))
            count += 1
    return count


def advance_sequences(dest: Any, last_read: dict[str, int], margin: int = SAFETY_MARGIN) -> int:
    """With the source gone: move every sequence past anything the source can have handed out."""
    count = 0
    for oid, name, increment, top, bottom in dest.execute(SEQUENCES_SQL).fetchall():
        value, called = dest.execute(f"SELECT last_value, is_called FROM {name}").fetchone()
        drawn = [int(value)] if called else []
        if name in last_read:
            drawn.append(int(last_read[name]))
        for table, column in dest.execute(DRAWING_COLUMNS_SQL, {"seq": oid}).fetchall():
            if increment > 0:
                row = dest.execute(f"SELECT max({column})::numeric FROM {table}").fetchone()
            else:
                row = dest.execute(f"SELECT min({column})::numeric FROM {table}").fetchone()
            if row[0] is not None:
                drawn.append(int(row[0]))
        if not drawn:
            continue
        if increment > 0:
            target = min(max(drawn) + margin * increment, int(top))
        else:
            target = max(min(drawn) + margin * increment, int(bottom))
        dest.execute("SELECT setval(%s::regclass, %s, true)", (name, target))
        count += 1
    return count


LARGE_OBJECTS_SQL = "SELECT oid, pg_get_userbyid(lomowner) FROM pg_largeobject_metadata ORDER BY 1"


def copy_large_objects(source: Any, dest: Any) -> int:
    """Make the standby's large objects those of the source (same oids, owners and bytes)."""
    theirs = {int(oid): owner for oid, owner in source.execute(LARGE_OBJECTS_SQL).fetchall()}
    ours = {int(oid) for oid, _ in dest.execute(LARGE_OBJECTS_SQL).fetchall()}
    changed = 0
    for oid in sorted(ours - set(theirs)):
        dest.execute("SELECT lo_unlink(%s)", (oid,))
        changed += 1
    for oid, owner in theirs.items():
        digest = source.execute("SELECT md5(lo_get(%s))", (oid,)).fetchone()[0]
        if oid in ours:
            if dest.execute("SELECT md5(lo_get(%s))", (oid,)).fetchone()[0] == digest:
                continue
            dest.execute("SELECT lo_unlink(%s)", (oid,))
        data = source.execute("SELECT lo_get(%s)", (oid,)).fetchone()[0]
        dest.execute("SELECT lo_from_bytea(%s, %s)", (oid, data))
        dest.execute(f'ALTER LARGE OBJECT {oid} OWNER TO "{owner.replace(chr(34), chr(34) * 2)}"')
        changed += 1
    return changed


MATVIEWS_SQL = "SELECT format('%I.%I', schemaname, matviewname) FROM pg_matviews ORDER BY 1"


def refresh_matviews(dest: Any) -> int:
    """Populate every materialized view from the rows the standby has (in dependency order)."""
    pending = [row[0] for row in dest.execute(MATVIEWS_SQL).fetchall()]
    done = 0
    for _ in range(len(pending) + 1):
        if not pending:
            break
        failed = []
        for view in pending:
            try:
                with dest.transaction():
                    dest.execute(f"REFRESH MATERIALIZED VIEW {view}")
                done += 1
            except Exception:  # depends on a view not yet refreshed: the next pass
                failed.append(view)
        if len(failed) == len(pending):
            dest.execute(f"REFRESH MATERIALIZED VIEW {failed[0]}")  # raises the real error
        pending = failed
    return done
