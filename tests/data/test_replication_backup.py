"""Logical replication (lag, promotion) and backups to a location outside the providers."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from tests.conftest import run_cli
from tests.data.conftest import Pair, put_objects
from tests.data.test_move import seed_database


def test_replication_lag_reported_and_promotion(pair: Pair) -> None:
    seed_database(pair, rows=5000)
    args = pair.cli_args()
    started = run_cli("data", "replicate", "start", *args, "--json", env=pair.env())
    assert started.returncode == 0, started.stderr
    assert json.loads(started.stdout)["state"] == "streaming"

    stop = threading.Event()

    def write() -> None:
        while not stop.is_set():
            pair.a.sql("INSERT INTO posts (user_id, body) SELECT 1, 'live' FROM generate_series(1, 200)")

    writer = threading.Thread(target=write)
    writer.start()
    try:
        time.sleep(1.0)
        status = run_cli("data", "replicate", "status", *args, "--json", env=pair.env())
        assert status.returncode == 0, status.stderr
        doc = json.loads(status.stdout)
        assert doc["state"] == "streaming" and doc["tables_ready"] == doc["tables_total"] == 2
        assert isinstance(doc["lag_bytes"], int) and isinstance(doc["lag_seconds"], float)
        assert doc["lag_seconds"] < 5
    finally:
        stop.set()
        writer.join()

    promoted = run_cli("data", "replicate", "promote", *args, "--json", env=pair.env())
    assert promoted.returncode == 0, promoted.stderr
    doc = json.loads(promoted.stdout)
    assert doc["state"] == "promoted" and doc["sequences_synced"] == 2
    assert pair.b.sql("SELECT count(*), max(id) FROM posts") == pair.a.sql("SELECT count(*), max(id) FROM posts")
    # The promoted side takes writes with fresh ids (sequences carried over).
    pair.b.sql("INSERT INTO posts (user_id, body) VALUES (1, 'after promotion')")
    assert not pair.b.sql("SELECT 1 FROM pg_subscription", admin=True)
    verify = run_cli("data", "verify", *args, "--no-media", env=pair.env())
    assert verify.returncode == 1 and "public.posts: row count" in verify.stdout  # B moved on: proof it is live


def test_encrypted_backup_and_restore_to_another_target(pair: Pair, tmp_path: Path) -> None:
    seed_database(pair, rows=3000)
    put_objects(pair.a, 12, 3000)
    key = "k3y-" + "z" * 40
    location = tmp_path / "offsite"
    a, b = pair.files
    env = pair.env(MIGRATE_BACKUP_KEY=key)
    made = run_cli("data", "backup", "--from-outputs", str(a), "--to", str(location), "--encrypt", "--json", env=env)
    assert made.returncode == 0, made.stderr
    doc = json.loads(made.stdout)
    assert doc["ok"] and key not in made.stdout + made.stderr
    stored = [p for p in location.rglob("*") if p.is_file() and p.suffix != ".json"]
    stored_keys = {p: json.loads(p.with_name(p.name + ".json").read_text())["key"] for p in stored}
    assert len(stored) > 12 and all(stored_keys.values())
    assert all(p.read_bytes()[:4] == b"MGE1" for p in stored if not stored_keys[p].endswith("/backup.json"))
    assert not any(b"chirp " in p.read_bytes() for p in stored)

    wrong = run_cli(
        "data",
        "restore",
        "--from",
        str(location),
        "--to-outputs",
        str(b),
        "--service",
        "site-a",
        env=pair.env(MIGRATE_BACKUP_KEY="another-key-" + "q" * 30),
    )
    assert wrong.returncode == 2 and "key id" in wrong.stderr

    back = run_cli(
        "data", "restore", "--from", str(location), "--to-outputs", str(b), "--service", "site-a", "--json", env=env
    )
    assert back.returncode == 0, back.stderr
    result = json.loads(back.stdout)
    assert result["verify"]["ok"] and result["backup_id"] == doc["backup_id"]
    assert pair.b.sql("SELECT count(*) FROM posts") == [(3000,)]
    keys = {o["Key"] for o in pair.b.s3().list_objects_v2(Bucket=pair.b.bucket)["Contents"]}
    assert len(keys) == 12


def test_synchronous_replication_puts_every_acknowledged_commit_on_the_standby(pair: Pair) -> None:
    seed_database(pair, rows=500)
    args = pair.cli_args()
    env = pair.env(MIGRATE_FROM_ADMIN_URL=pair.a.admin_url)
    started = run_cli("data", "replicate", "start", *args, "--sync", "--json", env=env)
    assert started.returncode == 0, started.stderr
    doc = json.loads(started.stdout)
    assert doc["state"] == "streaming" and doc["synchronous"]
    assert pair.a.sql("SHOW synchronous_standby_names") == [(doc["subscription"],)]
    time.sleep(0.2)  # the source's backends take the reloaded setting
    for i in range(30):  # each commit at A returns only once B has it
        pair.a.sql(f"INSERT INTO posts (user_id, body) VALUES (1, 'sync {i}')")
        assert pair.b.sql(f"SELECT count(*) FROM posts WHERE body = 'sync {i}'") == [(1,)], i

    stopped = run_cli("data", "replicate", "stop", *args, "--json", env=env)
    assert stopped.returncode == 0, stopped.stderr
    assert pair.a.sql("SHOW synchronous_standby_names") == [("",)]
    # Without the standby the source still commits (it would wait forever if still synchronous).
    pair.a.sql("SET statement_timeout = '5s'; INSERT INTO posts (user_id, body) VALUES (1, 'alone')")
    assert pair.a.sql("SELECT count(*) FROM posts WHERE body = 'alone'") == [(1,)]
