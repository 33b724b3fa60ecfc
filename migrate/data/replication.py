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

Safe for any schema: tables without a usable replica identity get one first (``identity``),
journaled (``repl_journal``) and undone by ``stop``/``promote`` at both sides, or — when the
source was dead — the next time migrate reaches it. Logical replication does not carry DDL,
sequences or large objects: ``status`` reports schema drift (``repl_schema``) and apply errors,
``start`` run again carries new tables and columns, and ``promote`` sets sequences, copies large
objects and refreshes materialized views (``promotion``).
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import SecretStr

from migrate.data import db_settings, identity, postgres_move, promotion, repl_journal, repl_schema
from migrate.data import repl_leftovers as leftovers
from migrate.data.endpoints import PgEndpoint, postgres_endpoint
from migrate.data.fingerprint import NOT_FROM_EXTENSION, USER_SCHEMAS
from migrate.data.manifest import data_dir
from migrate.data.pgconn import connect, ensure_writable
from migrate.data.repl_journal import RoundJournal
from migrate.data.repl_leftovers import PUBLICATION
from migrate.data.roles import create_roles, source_roles
from migrate.errors import InputError, MigrateError

if TYPE_CHECKING:
    from migrate.outputs import TargetOutputs
    from migrate.spec.model import ServiceSpec

# Unlogged tables cannot be published (their changes never reach the WAL): an app keeps
# only what it can lose in them (locks, caches), and Postgres itself empties them after a crash.
_TABLES = f"""
SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND {USER_SCHEMAS} AND {NOT_FROM_EXTENSION}"""
TABLES_SQL = _TABLES + " AND c.relpersistence = 'p' ORDER BY 1"
UNLOGGED_SQL = _TABLES + " AND c.relpersistence = 'u' ORDER BY 1"


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
    changes: list[str] = field(default_factory=list)  # what this command changed, in order

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
        return "\n".join([", ".join(parts), *(f"  - {change}" for change in self.changes)])


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


def _src_admin(src: PgEndpoint, source_admin_url: str | None) -> PgEndpoint | None:
    return _admin(src, source_admin_url) if source_admin_url else None


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
    """Create the schema at the destination, publish the source's tables and subscribe; wait for the copy.

    First makes every table's writes publishable (replica identity), cleans up what an earlier
    round left on either side, and — when the subscription exists — carries schema drift
    (new tables and columns) to the standby. Each change is journaled and listed in the result.
    """
    src, dst = postgres_endpoint(source), postgres_endpoint(dest)
    admin = _admin(dst, admin_url)
    name = subscription_name(source, dest)
    done: list[str] = []
    with connect(admin, what="subscribe at") as conn:
        me = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()[0]
    if not me:
        raise MigrateError(
            f"CREATE SUBSCRIPTION at {dst.label} needs a superuser on Postgres 15: set "
            f"MIGRATE_TO_ADMIN_URL to a superuser's URL for {dest.target}"
        )
    with connect(src, what="publish at") as conn:
        wal_level = conn.execute("SELECT current_setting('wal_level')").fetchone()[0]
    if wal_level != "logical":  # before any change at either side
        raise MigrateError(
            f"logical replication needs wal_level = logical at {src.label} (it is {wal_level}): set it and restart "
            "that server (a managed provider's parameter: RDS rds.logical_replication = 1, Cloud SQL "
            "cloudsql.logical_decoding = on)"
        )
    src_admin = _src_admin(src, source_admin_url)
    done += [f"cleared dead synchronous standby {n} at {dst.label}" for n in ensure_writable(dst, admin)]
    done += [f"cleared dead synchronous standby {n} at {src.label}" for n in ensure_writable(src, src_admin)]
    done += leftovers.undo_pending(dst, dest.target, admin)
    done += leftovers.undo_pending(src, source.target, src_admin)
    with connect(admin, what="subscribe at") as conn:
        exists = conn.execute("SELECT 1 FROM pg_subscription WHERE subname = %s", (name,)).fetchone()
        # The reverse round's leftovers at what is now the destination (its old source side).
        if leftovers.drop_slot(conn, subscription_name(dest, source)):
            done.append(f"dropped the leftover slot {subscription_name(dest, source)} at {dst.label}")
        if not exists and leftovers.drop_own_publication(conn):
            done.append(f"dropped the leftover publication {PUBLICATION} at {dst.label}")
    journal = repl_journal.load(name, source.target, dest.target)
    journal.finished = False
    with connect(src, what="publish at") as conn:
        tables = [row[0] for row in conn.execute(TABLES_SQL).fetchall()]
        if not tables:
            raise InputError(f"{src.label} has no tables to replicate")
        if unlogged := [row[0] for row in conn.execute(UNLOGGED_SQL).fetchall()]:
            done.append(
                f"{len(unlogged)} unlogged table(s) not replicated (Postgres cannot publish them; their rows "
                f"start empty on the standby): {', '.join(unlogged[:5])}{' …' if len(unlogged) > 5 else ''}"
            )
        if not exists and leftovers.drop_slot(conn, name):
            done.append(f"dropped the leftover slot {name} at {src.label}")
        planned = identity.plan(conn)
        known = {change.table for change in journal.identity}
        journal.identity += [change for change in planned if change.table not in known]
        journal.save()  # before the change: a crash mid-way still leaves the record to undo it
        identity.apply(conn, planned)
        done += [f"{change.describe()} at {src.label} (no primary key)" for change in planned]
        has_pub = conn.execute("SELECT 1 FROM pg_publication WHERE pubname = %s", (PUBLICATION,)).fetchone()
        verb = "ALTER PUBLICATION {} SET TABLE " if has_pub else "CREATE PUBLICATION {} FOR TABLE "
        conn.execute(verb.format(PUBLICATION) + _ident_list(tables))
        done.append(f"{'updated' if has_pub else 'created'} publication {PUBLICATION} of {len(tables)} tables")
    if exists:
        with connect(src, what="compare schemas at") as theirs, connect(admin, what="compare schemas at") as ours:
            found = repl_schema.drift(theirs, ours, PUBLICATION, tables)
            done += repl_schema.carry(src, ours, admin, found, data_dir() / "work" / f"drift-{name}")
            identity.apply(ours, journal.identity)
            ours.execute(f"ALTER SUBSCRIPTION {name} REFRESH PUBLICATION")
        done.append(f"refreshed subscription {name}")
    else:
        roles, members = source_roles(src)
        lost: list[str] = []
        done += [f"created role {r} at {dst.label}" for r in create_roles(dst, roles, members, admin, lost)]
        done += [f"not carried: {line}" for line in lost]
        settings = db_settings.read(src, [role.name for role in roles], src_admin)
        carried = db_settings.apply(dst, admin, settings, [role.name for role in roles if role.login])
        done += [f"carried {item}" for item in carried.done] + [f"not carried: {n}" for n in carried.not_carried]
        work = data_dir() / "work" / f"schema-{name}"
        import shutil

        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        try:
            postgres_move.dump(src, work / "dump", schema_only=True)
            postgres_move.restore(dst, work / "dump", jobs=1)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        with connect(src, what="read large objects at") as theirs, connect(admin, what="subscribe at") as ours:
            identity.apply(ours, journal.identity)
            copied = promotion.copy_large_objects(theirs, ours)
            journal.apply_errors = 0  # a new subscription counts its errors from zero
            journal.save()
            ours.execute(
                f"CREATE SUBSCRIPTION {name} CONNECTION {_literal(src.dsn)} PUBLICATION {PUBLICATION} "
                "WITH (copy_data = true)"
            )
        done.append(f"copied the schema and {copied} large objects; created subscription {name}")
    deadline = time.monotonic() + timeout
    while True:
        state = status(spec, source, dest, admin_url=admin_url)
        state.action = "start"
        state.changes = done
        if state.state == "streaming" or time.monotonic() > deadline:
            if state.state != "streaming":
                state.ok = False
                state.message = f"initial copy not finished after {timeout:.0f}s (still running; check status)"
            elif synchronous:  # after the initial copy: its table-sync workers are not the standby
                with connect(admin, what="subscribe at") as conn:
                    conn.execute(f"ALTER SUBSCRIPTION {name} SET (synchronous_commit = 'local')")
                journal = repl_journal.load(name, source.target, dest.target)
                journal.synchronous = True
                journal.save()
                _set_synchronous(src, source_admin_url, name, on=True)
                state.synchronous = True
                done.append(f"named {name} in synchronous_standby_names at {src.label}")
            return state
        time.sleep(0.2)


def status(
    spec: ServiceSpec | None, source: TargetOutputs, dest: TargetOutputs, *, admin_url: str | None = None
) -> ReplicationState:
    """Table sync states, lag, the apply worker's health and schema drift; ``ok`` is false when
    changes have stopped reaching the standby (apply errors, no apply worker, drift)."""
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
        worker = conn.execute(
            "SELECT pid, extract(epoch FROM now() - last_msg_receipt_time) FROM pg_stat_subscription "
            "WHERE subname = %s AND relid IS NULL",
            (name,),
        ).fetchone()
        errors_row = conn.execute(
            "SELECT apply_error_count + sync_error_count FROM pg_stat_subscription_stats WHERE subname = %s", (name,)
        ).fetchone()
        errors = int(errors_row[0]) if errors_row else 0
        state.tables_total = len(states)
        state.tables_ready = sum(1 for s in states if s == "r")
        state.state = "streaming" if states and state.tables_ready == len(states) else "initializing"
        if not sub[1]:
            state.state = "disabled"
        state.last_message_age_seconds = float(worker[1]) if worker and worker[1] is not None else None
        journal = repl_journal.load(name, source.target, dest.target)
        state.synchronous = journal.synchronous
        problems = []
        if errors > journal.apply_errors:
            problems.append(f"the apply worker failed {errors - journal.apply_errors} times since the last check")
        elif sub[1] and (worker is None or worker[0] is None):
            problems.append("no apply worker is running (it is restarting after an error)")
        journal.apply_errors = errors
        try:
            with connect(src, what="read replication lag at") as source_conn:
                row = source_conn.execute(
                    "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), flush_lsn)::bigint, "
                    "extract(epoch FROM coalesce(replay_lag, '0'::interval)) FROM pg_stat_replication "
                    "WHERE application_name = %s",
                    (name,),
                ).fetchone()
                tables = [r[0] for r in source_conn.execute(TABLES_SQL).fetchall()]
                found = repl_schema.drift(source_conn, conn, PUBLICATION, tables)
                journal.sequences = {k: v for k, (v, _) in promotion.read_sequences(source_conn).items()}
        except MigrateError as exc:
            state.source_reachable = False
            state.message = "; ".join([*problems, str(exc)])
            state.ok = not problems
            state.changes = []
            journal.save()
            return state
    journal.save()
    if found:
        problems.append(
            f"schema drift ({found.describe()}): changes to these tables stop reaching the standby; "
            "run `migrate data replicate start` again to carry the new tables and columns"
        )
    notes = list(problems)
    if row is None:
        notes.append("the source has no walsender for this subscription (connecting?)")
    else:
        state.lag_bytes = max(0, int(row[0] or 0))
        state.lag_seconds = float(row[1] or 0.0)
    state.ok = not problems  # changes no longer reach the standby
    state.message = "; ".join(notes)
    return state


def _finish_at_dest(conn: Any, journal: RoundJournal, name: str, *, reachable: bool) -> list[str]:
    """Drop the subscription (detaching its slot when the source is gone) and undo migrate's
    replica identities at the destination; drop a publication of migrate's left there."""
    done = []
    if conn.execute("SELECT 1 FROM pg_subscription WHERE subname = %s", (name,)).fetchone():
        if not reachable:  # the slot cannot be dropped on a dead source: detach it first
            conn.execute(f"ALTER SUBSCRIPTION {name} DISABLE")
            conn.execute(f"ALTER SUBSCRIPTION {name} SET (slot_name = NONE)")
        conn.execute(f"DROP SUBSCRIPTION {name}")
        done.append(f"dropped subscription {name}")
    undone = identity.apply(conn, journal.identity, undo=True)
    done += [f"{change.table}: replica identity restored at the standby" for change in undone]
    if leftovers.drop_own_publication(conn):
        done.append(f"dropped publication {PUBLICATION} at the standby")
    return done


def _source_alive(src: PgEndpoint) -> bool:
    try:
        connect(src, what="reach").close()
    except MigrateError:
        return False
    return True


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
    sequences and large objects over, refresh materialized views, drop the subscription and
    undo every change the round made. Stop writes at the source first (holding page)."""
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
    state.ok, state.message = True, ""
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
    journal = repl_journal.load(name, source.target, dest.target)
    done: list[str] = []
    done += [f"cleared dead synchronous standby {n} at {dst.label}" for n in ensure_writable(dst, admin)]
    if reachable:
        _release_source(src, source_admin_url, name)
    with connect(admin, what="promote at") as ours:
        if reachable:
            with connect(src, what="read sequences and large objects at") as theirs:
                state.sequences_synced = promotion.copy_sequences(promotion.read_sequences(theirs), ours)
                copied = promotion.copy_large_objects(theirs, ours)
            done.append(f"copied {state.sequences_synced} sequences and {copied} changed large objects")
        else:
            state.sequences_synced = promotion.advance_sequences(ours, journal.sequences)
            done.append(
                f"moved {state.sequences_synced} sequences {promotion.SAFETY_MARGIN:,} steps past the larger of "
                "the standby's rows and migrate's last reading at the source"
            )
        views = promotion.refresh_matviews(ours)
        done += [f"refreshed {views} materialized views"] if views else []
        done += _finish_at_dest(ours, journal, name, reachable=reachable)
    if reachable:
        with connect(src, what="clean up at") as conn:
            done += leftovers.undo_at_source(conn, journal)
        journal.finished, journal.pending_at_source = True, False
        state.message = "caught up; sequences copied"
    else:
        journal.pending_at_source = True
        state.message = (
            f"source unreachable: sequences moved past the standby's rows and migrate's last reading "
            f"(+{promotion.SAFETY_MARGIN:,}); its slot {name}, publication and replica identities are removed "
            "when migrate next reaches it (`migrate up`, `data replicate start` or `stop`)"
        )
    journal.synchronous = False
    journal.save()
    state.changes = done
    state.state = "promoted"
    return state


def stop(
    spec: ServiceSpec | None,
    source: TargetOutputs,
    dest: TargetOutputs,
    *,
    admin_url: str | None = None,
    source_admin_url: str | None = None,
) -> ReplicationState:
    """Drop the subscription (and its slot) and the publication, and undo the round's replica
    identities at both sides; the destination keeps its data. With the source unreachable what
    is left there is journaled and removed when migrate next reaches it."""
    src, dst = postgres_endpoint(source), postgres_endpoint(dest)
    name = subscription_name(source, dest)
    journal = repl_journal.load(name, source.target, dest.target)
    reachable = _source_alive(src)
    done: list[str] = []
    if reachable:
        _release_source(src, source_admin_url, name)
    with connect(_admin(dst, admin_url), what="drop the subscription at") as conn:
        done += _finish_at_dest(conn, journal, name, reachable=reachable)
    if reachable:
        with connect(src, what="clean up at") as conn:
            done += leftovers.undo_at_source(conn, journal)
        done += leftovers.undo_pending(src, source.target, _src_admin(src, source_admin_url))
    journal.finished, journal.pending_at_source, journal.synchronous = reachable, not reachable, False
    journal.save()
    state = ReplicationState("stop", name, "stopped", source_reachable=reachable)
    state.changes = done
    if not reachable:
        state.message = f"source unreachable: its slot {name} and replica identities are removed when next reached"
    return state
