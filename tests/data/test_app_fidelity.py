"""What an app relies on beside its rows reaches B: settings, comment, a second role's login.

Real Postgres 15 clusters (tests/data/conftest.py); each check is what the app would do on B:
an unqualified query as the app's role (per-database ``search_path``), a login as the second
role (its SCRAM verifier carried), and a re-run of ``data sync`` after one killed mid-restore of
a partitioned table.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg

from tests.conftest import REPO, run_cli
from tests.data.conftest import Pair

READER_PASSWORD = "reader-pw-8s7d6f"


def seed(pair: Pair, rows: int = 200) -> None:
    a = pair.a
    a.sql("DO $$ BEGIN CREATE ROLE app_reader LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$", admin=True)
    a.sql(f"ALTER ROLE app_reader PASSWORD '{READER_PASSWORD}'", admin=True)
    a.sql("ALTER ROLE app_reader SET statement_timeout = '7s'", admin=True)
    a.sql('CREATE SCHEMA "App"')
    a.sql('CREATE TABLE "App"."Order Items" (id bigserial PRIMARY KEY, sku text)')
    a.sql(f"""INSERT INTO "App"."Order Items" (sku) SELECT 'sku' || g FROM generate_series(1, {rows}) g""")
    a.sql('GRANT USAGE ON SCHEMA "App" TO app_reader')
    a.sql('GRANT SELECT ON "App"."Order Items" TO app_reader')
    a.sql(f"""ALTER DATABASE {a.database} SET search_path = "App", public""")
    a.sql(f"COMMENT ON DATABASE {a.database} IS 'the shop''s data'")
    a.sql("CREATE TABLE events (id bigint, at date NOT NULL, PRIMARY KEY (id, at)) PARTITION BY RANGE (at)")
    a.sql("CREATE TABLE events_default PARTITION OF events DEFAULT")
    a.sql("CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')")
    a.sql("INSERT INTO events SELECT g, date '2026-01-01' + g % 500 FROM generate_series(1, 200000) g")


def test_settings_comment_and_second_role_carried(pair: Pair) -> None:
    seed(pair)
    env = pair.env(MIGRATE_FROM_ADMIN_URL=pair.a.admin_url)
    done = run_cli("data", "sync", *pair.cli_args(), "--no-media", "--json", env=env)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["postgres"]["not_carried"] == []
    assert READER_PASSWORD not in done.stdout + done.stderr
    assert "SCRAM" not in done.stdout + done.stderr  # the verifier is a secret too
    # The app's unqualified query, as the app's role, on B.
    assert pair.b.sql('SELECT count(*) FROM "Order Items"') == [(200,)]
    assert pair.b.sql(
        f"SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = '{pair.b.database}'"
    ) == [("the shop's data",)]
    # The second role logs in on B with its own password, with its own settings.
    url = pair.b.pg.url("app_reader", READER_PASSWORD, pair.b.database)
    with psycopg.connect(url) as conn:
        assert conn.execute('SELECT count(*) FROM "App"."Order Items"').fetchone() == (200,)
        assert conn.execute("SHOW statement_timeout").fetchone() == ("7s",)


def test_without_a_source_superuser_the_move_says_what_it_did_not_carry(pair: Pair) -> None:
    seed(pair, rows=10)
    done = run_cli("data", "sync", *pair.cli_args(), "--no-media", "--json", env=pair.env())
    assert done.returncode == 0, done.stderr
    missing = json.loads(done.stdout)["postgres"]["not_carried"]
    assert any("password of login role app_reader" in note and "MIGRATE_FROM_ADMIN_URL" in note for note in missing)
    assert pair.b.sql('SELECT count(*) FROM "Order Items"') == [(10,)]  # the settings need no superuser


def test_sync_rerun_after_a_kill_mid_restore_of_a_partitioned_table(pair: Pair, tmp_path: Path) -> None:
    seed(pair)
    args = ["data", "sync", *pair.cli_args(), "--no-media", "--json"]
    env = {**pair.env(), "PYTHONPATH": str(REPO)}
    import os

    process = subprocess.Popen(
        [sys.executable, "-m", "migrate", *args],
        env={**os.environ, **env},
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        # Kill once the restore has built a partition's primary key (post-data: what --clean trips on).
        if pair.b.sql(
            "SELECT count(*) FROM pg_index x JOIN pg_class c ON c.oid = x.indrelid "
            "WHERE c.relname = 'events_default' AND x.indisprimary"
        ) == [(1,)]:
            break
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    again = run_cli(*args, env=pair.env())
    assert again.returncode == 0, again.stderr
    assert pair.b.sql("SELECT count(*) FROM events") == [(200000,)]
    assert json.loads(again.stdout)["verify"]["ok"]


def test_verify_names_schema_settings_roles_and_large_objects_that_differ(pair: Pair) -> None:
    seed(pair, rows=20)
    pair.a.sql('CREATE INDEX order_items_sku ON "Order Items" (sku)')
    pair.a.sql("SELECT lo_from_bytea(777001, 'scan of a receipt'::bytea)")
    pair.a.sql("SELECT lo_from_bytea(777002, 'another'::bytea)")
    env = pair.env(MIGRATE_FROM_ADMIN_URL=pair.a.admin_url)
    assert run_cli("data", "sync", *pair.cli_args(), "--no-media", env=env).returncode == 0
    same = run_cli("data", "verify", *pair.cli_args(), "--no-media", "--json", env=env)
    assert same.returncode == 0, same.stdout + same.stderr
    assert pair.b.sql("SELECT lo_get(777001)") == [(b"scan of a receipt",)]

    # What a move can lose without a row changing: each is named.
    pair.b.sql('DROP INDEX "App".order_items_sku')
    pair.b.sql(f"ALTER DATABASE {pair.b.database} RESET search_path")
    pair.b.sql("ALTER ROLE app_reader RESET statement_timeout", admin=True)
    pair.b.sql("SELECT lo_unlink(777001)")
    pair.b.sql("SELECT lo_put(777002, 0, 'ANOTHER'::bytea)")
    differ = run_cli("data", "verify", *pair.cli_args(), "--no-media", "--json", env=env)
    assert differ.returncode == 1
    found = {m["item"]: m["kind"] for m in json.loads(differ.stdout)["mismatches"]}
    assert found.get("INDEX App.order_items_sku") == "schema: missing", found
    assert found.get("database setting") == "setting"
    assert found.get("role app_reader") == "setting"
    assert found.get("large object 777001") == "missing large object"
    assert found.get("large object 777002") == "large object bytes"


def test_an_extension_b_cannot_create_fails_the_move_in_one_line_and_one_an_admin_installed_is_kept(
    pair: Pair,
) -> None:
    pair.a.sql("CREATE EXTENSION IF NOT EXISTS dblink", admin=True)  # not trusted: a superuser's
    pair.a.sql("CREATE TABLE notes (id bigint PRIMARY KEY, body text)")
    pair.a.sql("INSERT INTO notes VALUES (1, 'kept')")
    refused = run_cli("data", "sync", *pair.cli_args(), "--no-media", env=pair.env())
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    assert "extension dblink cannot be created" in refused.stderr and "CREATE EXTENSION dblink" in refused.stderr
    pair.b.sql("CREATE EXTENSION dblink", admin=True)  # what the operator is told to do
    for _ in range(2):  # and again: a re-run does not try to drop the admin's extension
        done = run_cli("data", "sync", *pair.cli_args(), "--no-media", env=pair.env())
        assert done.returncode == 0, done.stdout + done.stderr
    assert pair.b.sql("SELECT body FROM notes") == [("kept",)]


def test_role_attributes_a_managed_destination_refuses_are_named(pair: Pair) -> None:
    """B gives no superuser, only CREATEROLE (as RDS or Cloud SQL do): a role needing REPLICATION
    and BYPASSRLS is created without them, and the move names each with the SQL to run."""
    role = f"repl_bot_{pair.a.database}"
    pair.a.sql(f"CREATE ROLE {role} NOLOGIN REPLICATION BYPASSRLS", admin=True)
    pair.a.sql("CREATE TABLE audit (id int PRIMARY KEY)")
    pair.a.sql(f"GRANT SELECT ON audit TO {role}")
    pair.b.sql("ALTER ROLE chirp CREATEROLE", admin=True)
    try:
        env = {k: v for k, v in pair.env().items() if k != "MIGRATE_TO_ADMIN_URL"}
        done = run_cli("data", "sync", *pair.cli_args(), "--no-media", "--no-verify", "--json", env=env)
        assert done.returncode == 0, done.stderr
        missing = json.loads(done.stdout)["postgres"]["not_carried"]
        assert any(
            f"role {role}: REPLICATION, BYPASSRLS" in note and f'ALTER ROLE "{role}" REPLICATION BYPASSRLS' in note
            for note in missing
        ), missing
        assert pair.b.sql(f"SELECT rolreplication, rolbypassrls FROM pg_roles WHERE rolname = '{role}'") == [
            (False, False)
        ]
        assert pair.b.sql(f"SELECT has_table_privilege('{role}', 'audit', 'SELECT')") == [(True,)]
    finally:
        pair.b.sql("ALTER ROLE chirp NOCREATEROLE", admin=True)


def test_a_move_made_while_replicating_leaves_migrate_s_publication_behind(pair: Pair) -> None:
    """A sync (or backup) taken while A replicates holds A's ``migrate_pub``: restored, it would
    publish B's tables and B's writes to a table without a key would fail. The app's own
    publication is the app's and moves."""
    a = pair.a
    a.sql("CREATE TABLE tags (name text NOT NULL, n int)")  # no key, no unique index
    a.sql("INSERT INTO tags VALUES ('x', 1), ('x', 1)")
    a.sql("CREATE TABLE feed (id int PRIMARY KEY)")
    a.sql("CREATE PUBLICATION migrate_pub FOR TABLE tags, feed")
    a.sql("CREATE PUBLICATION app_feed FOR TABLE feed")
    done = run_cli("data", "sync", *pair.cli_args(), "--no-media", "--json", env=pair.env())
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["verify"]["ok"]
    assert pair.b.sql("SELECT pubname FROM pg_publication ORDER BY 1") == [("app_feed",)]
    pair.b.sql("UPDATE tags SET n = 2")  # the app's write on B, as the app's role
    pair.b.sql("DELETE FROM tags WHERE n = 2")


def test_without_createrole_at_b_the_move_names_the_roles_and_no_owner_moves_anyway(pair: Pair) -> None:
    """B's user may not create roles and no admin is given: the move fails in one line naming
    the role and the SQL; ``--no-owner`` then moves the rows, owned by B's user, without grants."""
    role = f"auditor_{pair.a.database}"
    pair.a.sql(f"CREATE ROLE {role} NOLOGIN", admin=True)
    pair.a.sql("CREATE TABLE ledger (id int PRIMARY KEY)")
    pair.a.sql("INSERT INTO ledger SELECT generate_series(1, 50)")
    pair.a.sql(f"GRANT SELECT ON ledger TO {role}")
    env = {k: v for k, v in pair.env().items() if k != "MIGRATE_TO_ADMIN_URL"}
    refused = run_cli("data", "sync", *pair.cli_args(), "--no-media", env=env)
    assert refused.returncode != 0
    assert role in refused.stderr and "CREATE ROLE" in refused.stderr and "Traceback" not in refused.stderr
    moved = run_cli("data", "sync", *pair.cli_args(), "--no-media", "--no-owner", "--json", env=env)
    assert moved.returncode == 0, moved.stderr
    assert json.loads(moved.stdout)["verify"]["ok"]
    assert pair.b.sql(
        "SELECT count(*), pg_get_userbyid(min(c.relowner)) FROM ledger, pg_class c WHERE c.relname = 'ledger'"
    ) == [(50, "chirp")]
    assert pair.b.sql(f"SELECT count(*) FROM pg_roles WHERE rolname = '{role}'") == [(0,)]
