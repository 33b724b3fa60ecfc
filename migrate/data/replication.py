"""Warm standby by Postgres logical replication: start, status with lag, stop, promote.

Privileges (Postgres 15):
- source: the app user with REPLICATION, owning the tables (it creates the publication
  ``FOR TABLE`` each user table; ``FOR ALL TABLES`` would need a superuser);
- destination: CREATE SUBSCRIPTION needs a superuser on 15 (pg_create_subscription on 16+):
  pass its URL as ``admin_url`` (CLI: ``MIGRATE_TO_ADMIN_URL``). The subscription's connection
  string (the source app user's URL) is stored in pg_subscription, readable by superusers only.

Synchronous mode (``start(..., synchronous=True)``): the source's ``synchronous_standby_names``
names the subscription, so every commit at the source waits until the standby has it: an
acknowledged write is on both (RPO 0), at the price of commit latency and of the source's
writes stalling while the standby is down. Setting it needs a superuser at the source
(``source_admin_url``; CLI: ``MIGRATE_FROM_ADMIN_URL``, else the source's ``database_admin_url``
output). ``promote`` and ``stop`` clear it first, when the source is reachable.

Logical replication does not carry sequences or DDL: ``promote`` copies sequence values
from the source (or, with the source gone, moves each owned sequence past its column's
maximum), and ``start`` run again after a schema change refreshes the table set.
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import SecretStr

from migrate.data import postgres_move
from migrate.data.endpoints import PgEndpoint, postgres_endpoint
from migrate.data.fingerprint import NOT_FROM_EXTENSION, USER_SCHEMAS
from migrate.data.manifest import data_dir
from migrate.data.pgconn import connect
from migrate.data.roles import ensure_roles
from migrate.errors import InputError, MigrateError

if TYPE_CHECKING:
    from migrate.outputs import TargetOutputs
    from migrate.spec.model import ServiceSpec

PUBLICATION = "migrate_pub"
TABLES_SQL = f"""
SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND {USER_SCHEMAS} AND {NOT_FROM_EXTENSION} ORDER BY 1"""


@dataclass
class ReplicationState:
    action: str
    subscription: str
    state: str  # absent, initializing, streaming, promoted, stopped
    ok: bool = True
    tables_total: int = 0
    tables_ready: int = 0
    lag_bytes: int | None = None
    lag_seconds: float | None = None
    last_message_age_seconds: float | None = None
    sequences_synced: int = 0
    source_reachable: bool = True
    synchronous: bool = False
    message: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        parts = [f"{self.subscription}: {self.state}"]
        if self.tables_total:
            parts.append(f"{self.tables_ready}/{self.tables_total} tables ready")
        if self.lag_bytes is not None:
            parts.append(f"lag {self.lag_bytes} bytes")
        if self.lag_seconds is not None:
            parts.append(f"{self.lag_seconds:.2f} s")
        if self.synchronous:
            parts.append("synchronous (commits at the source wait for the standby)")
        if self.sequences_synced:
            parts.append(f"{self.sequences_synced} sequences set")
        if self.message:
            parts.append(self.message)
        return ", ".join(parts)


def subscription_name(source: TargetOutputs, dest: TargetOutputs) -> str:
    return re.sub(r"[^a-z0-9_]", "_", f"migrate_{source.target}_to_{dest.target}".lower())[:63]


def _admin(dest: PgEndpoint, admin_url: str | None) -> PgEndpoint:
    """The superuser endpoint at the destination, pointed at the destination's database."""
    if not admin_url:
        return dest
    parts = urlsplit(admin_url)
    return PgEndpoint(SecretStr(urlunsplit(parts._replace(path="/" + dest.database))), f"{dest.name} (admin)")


def _ident_list(names: list[str]) -> str:
    return ", ".join(names)  # already quoted by format('%I.%I')


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _synchronous_at(src: PgEndpoint, name: str) -> bool:
    """Whether the source's commits wait for this subscription now (any user may read the setting)."""
    with connect(src, what="read synchronous_standby_names at") as conn:
        value = str(conn.execute("SHOW synchronous_standby_names").fetchone()[0])
    return name in re.findall(r"[A-Za-z0-9_]+", value)


def _set_synchronous(src: PgEndpoint, source_admin_url: str | None, name: str, on: bool) -> None:
    """Name the subscription in (or clear) the source's synchronous_standby_names, and reload."""
    if not source_admin_url:
        raise MigrateError(f"synchronous replication needs a superuser at {src.label}: set MIGRATE_FROM_ADMIN_URL")
    with connect(_admin(src, source_admin_url), autocommit=True, what="set synchronous_standby_names at") as conn:
        if on:
            conn.execute(f"ALTER SYSTEM SET synchronous_standby_names TO {_literal(name)}")
        else:
            conn.execute("ALTER SYSTEM RESET synchronous_standby_names")
        conn.execute("SELECT pg_reload_conf()")


def _release_source(src: PgEndpoint, source_admin_url: str | None, name: str) -> None:
    """Before the subscription goes: stop the source's commits from waiting for it."""
    if _synchronous_at(src, name):
        _set_synchronous(src, source_admin_url, name, on=False)


def start(
    spec: ServiceSpec | None,
    source: TargetOutputs,
    dest: TargetOutputs,
    *,
    admin_url: str | None = None,
    timeout: float = 300.0,
    jobs: int = 2,
    synchronous: bool = False,
    source_admin_url: str | None = None,
) -> ReplicationState:
    """Create the schema at the destination, publish the source's tables and subscribe; wait for the copy."""
    src, dst = postgres_endpoint(source), postgres_endpoint(dest)
    admin = _admin(dst, admin_url)
    name = subscription_name(source, dest)
    with connect(admin, what="subscribe at") as conn:
        me = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()[0]
        exists = conn.execute("SELECT 1 FROM pg_subscription WHERE subname = %s", (name,)).fetchone()
    if not me:
        raise MigrateError(
            f"CREATE SUBSCRIPTION at {dst.label} needs a superuser on Postgres 15: set "
            f"MIGRATE_TO_ADMIN_URL to a superuser's URL for {dest.target}"
        )
    with connect(src, what="publish at") as conn:
        tables = [row[0] for row in conn.execute(TABLES_SQL).fetchall()]
        if not tables:
            raise InputError(f"{src.label} has no tables to replicate")
        has_pub = conn.execute("SELECT 1 FROM pg_publication WHERE pubname = %s", (PUBLICATION,)).fetchone()
        verb = "ALTER PUBLICATION {} SET TABLE " if has_pub else "CREATE PUBLICATION {} FOR TABLE "
        conn.execute(verb.format(PUBLICATION) + _ident_list(tables))
    if exists:
        with connect(admin, what="subscribe at") as conn:
            conn.execute(f"ALTER SUBSCRIPTION {name} REFRESH PUBLICATION")
    else:
        ensure_roles(src, dst, admin if admin_url else None)
        work = data_dir() / "work" / f"schema-{name}"
        import shutil

        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        try:
            postgres_move.dump(src, work / "dump", schema_only=True)
            postgres_move.restore(dst, work / "dump", jobs=1)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        with connect(admin, what="subscribe at") as conn:
            conn.execute(
                f"CREATE SUBSCRIPTION {name} CONNECTION {_literal(src.dsn)} PUBLICATION {PUBLICATION} "
                "WITH (copy_data = true)"
            )
    deadline = time.monotonic() + timeout
    while True:
        state = status(spec, source, dest, admin_url=admin_url)
        state.action = "start"
        if state.state == "streaming" or time.monotonic() > deadline:
            if state.state != "streaming":
                state.ok = False
                state.message = f"initial copy not finished after {timeout:.0f}s (still running; check status)"
            elif synchronous:  # after the initial copy: its table-sync workers are not the standby
                with connect(admin, what="subscribe at") as conn:
                    conn.execute(f"ALTER SUBSCRIPTION {name} SET (synchronous_commit = 'local')")
                _set_synchronous(src, source_admin_url, name, on=True)
                state.synchronous = True
            return state
        time.sleep(0.2)


def status(
    spec: ServiceSpec | None, source: TargetOutputs, dest: TargetOutputs, *, admin_url: str | None = None
) -> ReplicationState:
    """Table sync states at the destination; lag in bytes and seconds from the source's walsender."""
    src, dst = postgres_endpoint(source), postgres_endpoint(dest)
    name = subscription_name(source, dest)
    state = ReplicationState("status", name, "absent")
    with connect(_admin(dst, admin_url), what="read replication status at") as conn:
        sub = conn.execute("SELECT oid, subenabled FROM pg_subscription WHERE subname = %s", (name,)).fetchone()
        if sub is None:
            state.ok = False
            state.message = "no subscription: run replicate start"
            return state
        states = [
            row[0]
            for row in conn.execute(
                "SELECT srsubstate FROM pg_subscription_rel WHERE srsubid = %s", (sub[0],)
            ).fetchall()
        ]
        age = conn.execute(
            "SELECT extract(epoch FROM now() - last_msg_receipt_time) FROM pg_stat_subscription "
            "WHERE subname = %s AND relid IS NULL",
            (name,),
        ).fetchone()
    state.tables_total = len(states)
    state.tables_ready = sum(1 for s in states if s == "r")
    state.state = "streaming" if states and state.tables_ready == len(states) else "initializing"
    if not sub[1]:
        state.state = "disabled"
    state.last_message_age_seconds = float(age[0]) if age and age[0] is not None else None
    try:
        with connect(src, what="read replication lag at") as conn:
            row = conn.execute(
                "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), flush_lsn)::bigint, "
                "extract(epoch FROM coalesce(replay_lag, '0'::interval)) FROM pg_stat_replication "
                "WHERE application_name = %s",
                (name,),
            ).fetchone()
    except MigrateError as exc:
        state.source_reachable = False
        state.message = str(exc)
        return state
    if row is None:
        state.message = "the source has no walsender for this subscription (connecting?)"
    else:
        state.lag_bytes = max(0, int(row[0] or 0))
        state.lag_seconds = float(row[1] or 0.0)
    return state


def _sync_sequences(src: PgEndpoint | None, dst: PgEndpoint) -> int:
    """Copy sequence values from the source, or move them past their columns' maxima without it."""
    count = 0
    values: dict[str, tuple[int, bool]] = {}
    if src is not None:
        with connect(src, what="read sequences at") as conn:
            names = [
                row[0]
                for row in conn.execute("SELECT format('%I.%I', schemaname, sequencename) FROM pg_sequences").fetchall()
            ]
            for seq in names:
                value, called = conn.execute(f"SELECT last_value, is_called FROM {seq}").fetchone()
                values[seq] = (int(value), bool(called))
    with connect(dst, what="set sequences at") as conn:
        if src is not None:
            for seq, (value, called) in values.items():
                conn.execute(f"SELECT setval({_literal(seq)}, %s, %s)", (value, called))
                count += 1
            return count
        owned = conn.execute(
            "SELECT format('%I.%I', sn.nspname, s.relname), format('%I.%I', tn.nspname, t.relname), "
            "quote_ident(a.attname) FROM pg_depend d JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S' "
            "JOIN pg_namespace sn ON sn.oid = s.relnamespace JOIN pg_class t ON t.oid = d.refobjid "
            "JOIN pg_namespace tn ON tn.oid = t.relnamespace "
            "JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid "
            "WHERE d.deptype IN ('a', 'i')"
        ).fetchall()
        for seq, table, column in owned:
            top = conn.execute(f"SELECT max({column})::bigint FROM {table}").fetchone()[0]
            if top is not None:
                conn.execute(
                    f"SELECT setval({_literal(seq)}, greatest(%s, (SELECT last_value FROM {seq})))", (int(top),)
                )
                count += 1
    return count


def promote(
    spec: ServiceSpec | None,
    source: TargetOutputs,
    dest: TargetOutputs,
    *,
    admin_url: str | None = None,
    max_lag: float = 0.0,
    timeout: float = 60.0,
    source_admin_url: str | None = None,
) -> ReplicationState:
    """Make the standby the primary: wait for it to catch up (if the source lives), carry
    sequences over, and drop the subscription. Stop writes at the source first (holding page)."""
    src, dst = postgres_endpoint(source), postgres_endpoint(dest)
    admin = _admin(dst, admin_url)
    name = subscription_name(source, dest)
    state = status(spec, source, dest, admin_url=admin_url)
    state.action = "promote"
    if state.state == "absent":
        return state
    if state.state != "streaming":
        state.ok = False
        state.message = "the initial copy has not finished: promoting now would lose rows"
        return state
    reachable = state.source_reachable
    if reachable:
        try:
            with connect(src, what="read the WAL position at") as conn:
                target = conn.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
                deadline = time.monotonic() + timeout
                while True:
                    row = conn.execute(
                        "SELECT pg_wal_lsn_diff(%s, flush_lsn)::bigint, "
                        "extract(epoch FROM coalesce(replay_lag, '0'::interval)) FROM pg_stat_replication "
                        "WHERE application_name = %s",
                        (target, name),
                    ).fetchone()
                    behind = None if row is None else int(row[0] or 0)
                    if behind is not None and (behind <= 0 or (max_lag > 0 and float(row[1] or 0) <= max_lag)):
                        state.lag_bytes, state.lag_seconds = max(0, behind), float(row[1] or 0)
                        break
                    if time.monotonic() > deadline:
                        state.ok = False
                        state.message = f"the standby did not catch up within {timeout:.0f}s; not promoted"
                        return state
                    time.sleep(0.05)
        except MigrateError:
            reachable = False
    state.source_reachable = reachable
    if reachable:
        _release_source(src, source_admin_url, name)
    state.sequences_synced = _sync_sequences(src if reachable else None, dst)
    with connect(admin, what="drop the subscription at") as conn:
        if not reachable:  # the slot cannot be dropped on a dead source: detach it first
            conn.execute(f"ALTER SUBSCRIPTION {name} DISABLE")
            conn.execute(f"ALTER SUBSCRIPTION {name} SET (slot_name = NONE)")
        conn.execute(f"DROP SUBSCRIPTION {name}")
    if reachable:
        with connect(src, what="drop the publication at") as conn:
            conn.execute(f"DROP PUBLICATION IF EXISTS {PUBLICATION}")
    state.state = "promoted"
    state.message = (
        f"source unreachable: sequences moved past their columns' maxima; its replication slot {name} remains there"
        if not reachable
        else "caught up; sequences copied"
    )
    return state


def stop(
    spec: ServiceSpec | None,
    source: TargetOutputs,
    dest: TargetOutputs,
    *,
    admin_url: str | None = None,
    source_admin_url: str | None = None,
) -> ReplicationState:
    """Drop the subscription (and its slot) and the publication; the destination keeps its data."""
    src, dst = postgres_endpoint(source), postgres_endpoint(dest)
    name = subscription_name(source, dest)
    _release_source(src, source_admin_url, name)
    with connect(_admin(dst, admin_url), what="drop the subscription at") as conn:
        if conn.execute("SELECT 1 FROM pg_subscription WHERE subname = %s", (name,)).fetchone():
            conn.execute(f"DROP SUBSCRIPTION {name}")
    with connect(src, what="drop the publication at") as conn:
        conn.execute(f"DROP PUBLICATION IF EXISTS {PUBLICATION}")
    return ReplicationState("stop", name, "stopped")
