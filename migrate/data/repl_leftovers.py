"""What replication rounds leave behind, and removing it: slots, migrate's publication, and the
changes a round journaled at a source that was unreachable when it ended.

Called by ``replicate start``/``stop`` and by ``data sync`` into a database that was once a
replication source, so that a retained slot (WAL piling up) or a replica identity migrate set
never outlives the round that made it.
"""

from __future__ import annotations

from typing import Any

from migrate.data import identity, repl_journal
from migrate.data.endpoints import PgEndpoint
from migrate.data.pgconn import connect
from migrate.data.repl_journal import RoundJournal
from migrate.errors import MigrateError

PUBLICATION = "migrate_pub"


def drop_slot(conn: Any, slot: str) -> bool:
    """Drop a replication slot migrate made, if it is there and no one streams from it."""
    row = conn.execute("SELECT active FROM pg_replication_slots WHERE slot_name = %s", (slot,)).fetchone()
    if row is None:
        return False
    if row[0]:
        raise MigrateError(f"replication slot {slot} is in use by a running subscriber: stop it first")
    conn.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
    return True


def drop_own_publication(conn: Any, keep_slot: str | None = None) -> bool:
    """Drop migrate's publication unless another of migrate's rounds still streams from it."""
    if not conn.execute("SELECT 1 FROM pg_publication WHERE pubname = %s", (PUBLICATION,)).fetchone():
        return False
    others = conn.execute(
        "SELECT 1 FROM pg_replication_slots WHERE slot_name LIKE 'migrate\\_%%' AND slot_name IS DISTINCT FROM %s",
        (keep_slot,),
    ).fetchone()
    if others:
        return False
    conn.execute(f"DROP PUBLICATION {PUBLICATION}")
    return True


def undo_at_source(conn: Any, journal: RoundJournal) -> list[str]:
    """What a round left at its source: replica identities, its slot, the publication."""
    done = [f"{c.table}: replica identity restored" for c in identity.apply(conn, journal.identity, undo=True)]
    if drop_slot(conn, journal.subscription):
        done.append(f"dropped the leftover replication slot {journal.subscription}")
    if drop_own_publication(conn):
        done.append(f"dropped the leftover publication {PUBLICATION}")
    return done


def undo_pending(endpoint: PgEndpoint, target: str, admin: PgEndpoint | None) -> list[str]:
    """Undo what earlier rounds left at ``target`` while it was unreachable (see promote)."""
    done: list[str] = []
    rounds = repl_journal.pending_at(target)
    with connect(admin or endpoint, what="clean up earlier replication at") as conn:
        for journal in rounds:
            done += undo_at_source(conn, journal)
            journal.pending_at_source, journal.finished = False, True
            journal.save()
    return done
