"""Replication of a deliberately awkward schema, judged by what the app sees at both sides.

Real Postgres 15 clusters (tests/data/conftest.py). The source has tables without a primary key
(with and without a unique index, with duplicate rows), a partitioned table, a free-standing
sequence the app draws from with ``nextval()``, a large object, a materialized view and an
extension; the tests change its schema while it replicates and kill it under write load.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import psycopg
import pytest

from tests.conftest import run_cli
from tests.data.conftest import Pair, Servers


def seed_awkward(pair: Pair) -> None:
    a = pair.a
    a.sql("CREATE EXTENSION IF NOT EXISTS citext")
    a.sql("CREATE TABLE posts (id bigserial PRIMARY KEY, body text)")
    a.sql("INSERT INTO posts (body) SELECT 'post ' || g FROM generate_series(1, 500) g")
    # No primary key, but a unique index on a NOT NULL column: REPLICA IDENTITY USING INDEX.
    a.sql("CREATE TABLE profiles (handle citext NOT NULL, bio text, nick text)")
    a.sql("CREATE UNIQUE INDEX profiles_handle ON profiles (handle)")
    a.sql("CREATE UNIQUE INDEX profiles_nick ON profiles (nick)")  # nullable: not usable
    a.sql("INSERT INTO profiles SELECT 'user' || g, 'bio', NULL FROM generate_series(1, 50) g")
    # No key at all, duplicate rows: REPLICA IDENTITY FULL.
    a.sql("CREATE TABLE favourites (user_handle text, post_id bigint)")
    a.sql("INSERT INTO favourites SELECT 'user1', 7 FROM generate_series(1, 3)")
    a.sql("INSERT INTO favourites SELECT 'user' || g, g FROM generate_series(2, 40) g")
    a.sql(
        "CREATE TABLE events (id bigserial, at date NOT NULL, kind text, PRIMARY KEY (id, at)) PARTITION BY RANGE (at)"
    )
    a.sql("CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')")
    a.sql("CREATE TABLE events_default PARTITION OF events DEFAULT")
    a.sql("INSERT INTO events (at, kind) SELECT date '2026-03-01' + g % 400, 'k' FROM generate_series(1, 300) g")
    a.sql("CREATE SEQUENCE invoice_numbers START 1000")
    a.sql("CREATE TABLE invoices (number bigint NOT NULL UNIQUE, total numeric)")
    a.sql("INSERT INTO invoices SELECT nextval('invoice_numbers'), g FROM generate_series(1, 25) g")
    a.sql("CREATE MATERIALIZED VIEW post_counts AS SELECT count(*) AS n FROM posts")
    a.sql("SELECT lo_from_bytea(424242, 'large object bytes'::bytea)")


def cli(pair: Pair, *args: str, **env: str) -> tuple[int, dict[str, Any], str]:
    done = run_cli("data", "replicate", *args, *pair.cli_args(), "--json", env=pair.env(**env))
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, (json.loads(done.stdout) if done.stdout.strip() else {}), done.stderr


def leftovers(side: Any) -> list[tuple[Any, ...]]:
    """Publications, subscriptions and replication slots at a side."""
    return side.sql(
        "SELECT 'pub', pubname FROM pg_publication UNION ALL SELECT 'sub', subname FROM pg_subscription "
        "UNION ALL SELECT 'slot', slot_name FROM pg_replication_slots",
        admin=True,
    )


def identities(side: Any) -> dict[str, str]:
    rows = side.sql(
        "SELECT relname, relreplident::text FROM pg_class WHERE relname IN ('profiles', 'favourites', 'events_default')"
    )
    return dict(rows)


def wait_for(predicate: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_keyless_tables_stay_writable_ddl_is_carried_and_promotion_leaves_nothing(pair: Pair) -> None:
    seed_awkward(pair)
    code, doc, err = cli(pair, "start")
    assert code == 0, err
    assert doc["state"] == "streaming"
    said = "\n".join(doc["changes"])
    assert "public.profiles: REPLICA IDENTITY USING INDEX profiles_handle" in said
    assert "public.favourites: REPLICA IDENTITY FULL" in said
    assert not [row for row in leftovers(pair.b) if row[0] == "pub"]  # the schema copy carried no publication

    # The app's writes at the source keep working while the standby is attached, and arrive.
    pair.a.sql("UPDATE profiles SET bio = 'edited' WHERE handle = 'USER3'")
    pair.a.sql("DELETE FROM favourites WHERE user_handle = 'user1'")
    pair.a.sql("UPDATE events SET kind = 'moved' WHERE id = 5")
    wait_for(lambda: pair.b.sql("SELECT bio FROM profiles WHERE handle = 'user3'") == [("edited",)])
    wait_for(lambda: pair.b.sql("SELECT count(*) FROM favourites WHERE user_handle = 'user1'") == [(0,)])
    wait_for(lambda: pair.b.sql("SELECT kind FROM events WHERE id = 5") == [("moved",)])

    # DDL at the source: status names the drift and fails; start again carries it.
    pair.a.sql("ALTER TABLE profiles ADD COLUMN website text")
    pair.a.sql("UPDATE profiles SET website = 'https://x.example' WHERE handle = 'user4'")
    pair.a.sql("CREATE TABLE badges (handle text NOT NULL, badge text)")
    pair.a.sql("INSERT INTO badges VALUES ('user4', 'gold')")
    code, doc, _ = cli(pair, "status")
    assert code == 1 and not doc["ok"]
    assert "profiles.website (text) is at the source only" in doc["message"]
    assert "public.badges is at the source only" in doc["message"]
    assert "replicate start" in doc["message"]
    code, doc, err = cli(pair, "start")
    assert code == 0, err
    assert any("public.badges: REPLICA IDENTITY FULL" in c for c in doc["changes"])
    wait_for(lambda: pair.b.sql("SELECT website FROM profiles WHERE handle = 'user4'") == [("https://x.example",)])
    wait_for(lambda: pair.b.sql("SELECT badge FROM badges") == [("gold",)])
    pair.a.sql("DELETE FROM badges")  # its identity was set too: the source's delete works
    wait_for(lambda: pair.b.sql("SELECT count(*) FROM badges") == [(0,)])
    wait_for(lambda: cli(pair, "status")[0] == 0)

    for _ in range(3):
        pair.a.sql("SELECT nextval('invoice_numbers')")  # drawn without a row: only the sequence knows
    pair.a.sql("SELECT lo_from_bytea(515151, 'later'::bytea)")
    code, doc, err = cli(pair, "promote")
    assert code == 0, err
    assert doc["state"] == "promoted"
    # Nothing of the round is left on either side, and the source's tables are as they were.
    assert leftovers(pair.a) == [] and leftovers(pair.b) == []
    assert identities(pair.a) == {"profiles": "d", "favourites": "d", "events_default": "d"}
    assert identities(pair.b) == identities(pair.a)
    # Before B moves on: rows, sequences, large objects, schema and settings match A's.
    verify = run_cli("data", "verify", *pair.cli_args(), "--no-media", env=pair.env())
    assert verify.returncode == 0, verify.stdout + verify.stderr
    # B as the new primary, as the app's role: writes, fresh ids, large objects, the matview.
    a_invoice = pair.a.sql("SELECT last_value FROM invoice_numbers")[0][0]
    assert pair.b.sql("SELECT nextval('invoice_numbers')")[0][0] > a_invoice
    assert pair.b.sql("INSERT INTO posts (body) VALUES ('on b') RETURNING id")[0][0] > 500
    pair.b.sql("UPDATE favourites SET post_id = 9 WHERE user_handle = 'user2'")
    pair.b.sql("INSERT INTO events (at, kind) VALUES ('2026-05-05', 'b')")
    assert pair.b.sql("SELECT lo_get(424242), lo_get(515151)") == [(b"large object bytes", b"later")]
    assert pair.b.sql("SELECT n FROM post_counts") == [(500,)]


@pytest.mark.parametrize("synchronous", [True, False], ids=["sync", "async"])
def test_source_killed_under_load_then_restarted_and_replicated_back(
    pair: Pair, servers: Servers, synchronous: bool
) -> None:
    seed_awkward(pair)
    env = {"MIGRATE_FROM_ADMIN_URL": pair.a.admin_url}
    code, doc, err = cli(pair, "start", *(["--sync"] if synchronous else []), **env)
    assert code == 0, err
    for _ in range(5):
        pair.a.sql("SELECT nextval('invoice_numbers')")
    assert cli(pair, "status")[0] == 0  # migrate's last reading of the source's sequences

    acked: list[int] = []
    stop = threading.Event()

    def write() -> None:
        try:
            with psycopg.connect(pair.a.app_url, autocommit=True) as conn:
                while not stop.is_set():
                    row = conn.execute("INSERT INTO posts (body) VALUES ('load') RETURNING id").fetchone()
                    assert row is not None
                    acked.append(row[0])
                    conn.execute("UPDATE profiles SET bio = 'busy' WHERE handle = 'user9'")
        except psycopg.Error:
            pass  # the source died under us

    writer = threading.Thread(target=write)
    writer.start()
    try:
        wait_for(lambda: len(acked) > 200)
        servers.pg_a.kill()
    finally:
        stop.set()
        writer.join(timeout=30)
    try:
        code, doc, err = cli(pair, "promote", "--timeout", "10", **env)
        assert code == 0, err
        assert doc["state"] == "promoted" and not doc["source_reachable"]
        if synchronous:  # every acknowledged commit is on B
            have = {row[0] for row in pair.b.sql("SELECT id FROM posts")}
            assert set(acked) <= have
        assert leftovers(pair.b) == []
        # The first writes on B as the new primary never reuse an id or number A handed out.
        first = pair.b.sql("INSERT INTO posts (body) VALUES ('first on b') RETURNING id")[0][0]
        assert first > max(acked)
        assert pair.b.sql("SELECT nextval('invoice_numbers')")[0][0] > 1000 + 25 + 5
    finally:
        servers.pg_a.start()

    # The old source comes back: writing to it does not hang on its lost synchronous standby.
    started = time.monotonic()
    servers.pg_a.ensure_database("chirp", "chirp-app-pw-123", pair.a.database)
    assert time.monotonic() - started < 10
    assert pair.a.sql("SHOW synchronous_standby_names") == [("",)]

    assert [row[1] for row in leftovers(pair.a) if row[0] == "slot"] == [doc["subscription"]]  # retaining WAL
    back = Pair(pair.b, pair.a, pair.work)
    if not synchronous:  # moved back by a plain copy: the earlier round's leftovers at A go first
        done = run_cli("data", "sync", *back.cli_args(), "--no-media", "--json", env=back.env())
        assert done.returncode == 0, done.stderr
        assert leftovers(pair.a) == [] and identities(pair.a) == {
            "profiles": "d",
            "favourites": "d",
            "events_default": "d",
        }
        assert pair.a.sql("SELECT count(*) FROM posts WHERE body = 'first on b'") == [(1,)]
        return
    # ...or replicated to the other way, the earlier round's leftovers no obstacle.
    env_back = {"MIGRATE_TO_ADMIN_URL": pair.a.admin_url, "MIGRATE_FROM_ADMIN_URL": pair.b.admin_url}
    code, doc, err = cli(back, "start", *(["--sync"] if synchronous else []), **env_back)
    assert code == 0, err
    assert [row for row in leftovers(pair.a) if row[0] != "sub"] == []  # old slot and publication gone
    pair.b.sql("UPDATE profiles SET bio = 'back' WHERE handle = 'user9'")
    wait_for(lambda: pair.a.sql("SELECT bio FROM profiles WHERE handle = 'user9'") == [("back",)])
    code, doc, err = cli(back, "stop", **env_back)
    assert code == 0, err
    assert leftovers(pair.a) == [] and leftovers(pair.b) == []
    assert pair.a.sql("SHOW synchronous_standby_names") == [("",)]
    assert identities(pair.b) == {"profiles": "d", "favourites": "d", "events_default": "d"}


def test_status_fails_naming_an_erroring_apply_worker(pair: Pair) -> None:
    pair.a.sql("CREATE TABLE posts (id bigint PRIMARY KEY, body text)")
    assert cli(pair, "start")[0] == 0
    pair.b.sql("INSERT INTO posts VALUES (7, 'written at the standby')")  # B diverges
    pair.a.sql("INSERT INTO posts VALUES (7, 'written at the source')")  # B's apply worker now fails on it
    deadline = time.monotonic() + 30
    while True:
        code, doc, _ = cli(pair, "status")
        if code == 1 or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert code == 1 and "apply worker" in doc["message"], doc
    assert cli(pair, "stop")[0] == 0


def test_a_write_never_waits_on_a_lost_synchronous_standby(pair: Pair) -> None:
    pair.a.sql("CREATE TABLE posts (id bigint PRIMARY KEY, body text)")
    pair.b.sql("ALTER SYSTEM SET synchronous_standby_names = 'their_standby'", admin=True)
    pair.b.sql("SELECT pg_reload_conf()", admin=True)
    try:
        started = time.monotonic()
        # Not migrate's standby: the move stops at once, in one line, instead of hanging.
        done = run_cli("data", "sync", *pair.cli_args(), "--no-media", env=pair.env())
        assert time.monotonic() - started < 30
        assert done.returncode != 0 and "their_standby" in done.stderr and "Traceback" not in done.stderr
        assert len([line for line in done.stderr.splitlines() if line.startswith("error:")]) == 1, done.stderr
    finally:
        pair.b.sql("ALTER SYSTEM RESET synchronous_standby_names", admin=True)
        pair.b.sql("SELECT pg_reload_conf()", admin=True)
