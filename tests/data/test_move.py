"""Full moves, verification and failure modes against real Postgres 15 and real S3 servers."""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import time

from providers.local.servers.s3 import S3Server
from tests.conftest import REPO, run_cli
from tests.data.conftest import Pair, put_objects


def seed_database(pair: Pair, rows: int = 2000) -> None:
    pair.a.sql(
        "DO $$ BEGIN CREATE ROLE chirp_reader NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$", admin=True
    )
    pair.a.sql("CREATE EXTENSION IF NOT EXISTS citext")
    pair.a.sql("CREATE TABLE users (id bigserial PRIMARY KEY, handle citext UNIQUE, joined timestamptz DEFAULT now())")
    pair.a.sql(
        "CREATE TABLE posts (id bigserial PRIMARY KEY, user_id bigint REFERENCES users, body text, "
        "score double precision, tags jsonb)"
    )
    pair.a.sql("INSERT INTO users (handle) SELECT 'user' || g FROM generate_series(1, 200) g")
    pair.a.sql(
        f"INSERT INTO posts (user_id, body, score, tags) SELECT 1 + g % 200, repeat('chirp ', g % 40), "
        f"g / 3.0, jsonb_build_object('n', g) FROM generate_series(1, {rows}) g"
    )
    pair.a.sql("GRANT SELECT ON posts TO chirp_reader")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_full_move_verified(pair: Pair) -> None:
    seed_database(pair)
    made = put_objects(pair.a, 30, 40_000)
    big = os.urandom(17 * 1024 * 1024)  # below 64 MiB: one PUT at the destination (multipart at the source)
    from boto3.s3.transfer import TransferConfig

    pair.a.s3().upload_fileobj(
        io.BytesIO(big), pair.a.bucket, "video/big.mp4", Config=TransferConfig(multipart_threshold=8 * 1024 * 1024)
    )
    made["video/big.mp4"] = big

    result = run_cli("data", "sync", *pair.cli_args(), "--json", env=pair.env())
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["ok"] and doc["verify"]["ok"]
    assert doc["media"][0]["copied"] == 31
    assert doc["postgres"]["roles_created"] == ["chirp_reader"]

    # Rows, roles, grants, sequences and extensions at the destination.
    assert pair.b.sql("SELECT count(*), sum(length(body)) FROM posts") == pair.a.sql(
        "SELECT count(*), sum(length(body)) FROM posts"
    )
    assert pair.b.sql(
        "SELECT grantee FROM information_schema.role_table_grants WHERE table_name = 'posts' "
        "AND grantee = 'chirp_reader'"
    ) == [("chirp_reader",)]
    assert pair.b.sql("SELECT tableowner FROM pg_tables WHERE tablename = 'posts'") == [("chirp",)]
    assert pair.b.sql("SELECT extname FROM pg_extension WHERE extname = 'citext'") == [("citext",)]
    assert pair.b.sql("SELECT nextval('posts_id_seq')") == pair.a.sql("SELECT nextval('posts_id_seq')")

    client = pair.b.s3()
    for key, body in made.items():
        stored = client.get_object(Bucket=pair.b.bucket, Key=key)
        assert sha(stored["Body"].read()) == sha(body), key
    head = client.head_object(Bucket=pair.b.bucket, Key="video/big.mp4")
    assert head["ETag"].strip('"') == hashlib.md5(big).hexdigest() and head["Metadata"]["migrate-sha256"] == sha(big)

    # An unchanged re-sync copies nothing and verifies again.
    again = json.loads(run_cli("data", "sync", *pair.cli_args(), "--no-postgres", "--json", env=pair.env()).stdout)
    assert again["media"][0]["copied"] == 0 and again["media"][0]["skipped"] == 31 and again["ok"]


def test_corruption_detected_by_verify(pair: Pair) -> None:
    seed_database(pair, rows=300)
    put_objects(pair.a, 10, 5000)
    assert run_cli("data", "sync", *pair.cli_args(), env=pair.env()).returncode == 0
    client = pair.b.s3()
    client.put_object(Bucket=pair.b.bucket, Key="img/00003.bin", Body=os.urandom(5000))  # same size, other bytes
    client.delete_object(Bucket=pair.b.bucket, Key="img/00007.bin")
    pair.b.sql("UPDATE posts SET body = body || '!' WHERE id = 42")

    result = run_cli("data", "verify", *pair.cli_args(), "--json", env=pair.env())
    assert result.returncode == 1
    doc = json.loads(result.stdout)
    found = {(m["item"], m["kind"]) for m in doc["mismatches"]}
    assert found == {("img/00003.bin", "checksum"), ("img/00007.bin", "missing"), ("public.posts", "content hash")}
    human = run_cli("data", "verify", *pair.cli_args(), env=pair.env())
    assert human.returncode == 1 and "img/00003.bin" in human.stdout and "verification FAILED" in human.stdout


def test_unreachable_destination_is_one_clear_line(pair: Pair) -> None:
    put_objects(pair.a, 2, 100)
    outputs = pair.b.outputs()
    outputs["s3_endpoint"] = "http://127.0.0.1:9"
    outputs["database_url"] = "postgresql://chirp:pw-never-shown@127.0.0.1:9/chirp"
    dead = pair.work / "dead.json"
    dead.write_text(json.dumps(outputs))
    a, _ = pair.files
    for extra in (["--no-postgres"], []):
        result = run_cli(
            "data", "sync", "--from-outputs", str(a), "--to-outputs", str(dead), *extra, env=pair.env(), timeout=120
        )
        assert result.returncode == 1
        assert "Traceback" not in result.stderr
        assert "127.0.0.1:9" in result.stderr and "pw-never-shown" not in result.stderr + result.stdout
        assert len(result.stderr.strip().splitlines()[-1]) < 300


def test_missing_roles_without_createrole_named(pair: Pair) -> None:
    seed_database(pair, rows=10)
    auditor = f"auditor_{pair.a.database}"  # exists at the source only
    pair.a.sql(f"CREATE ROLE {auditor} NOLOGIN", admin=True)
    pair.a.sql(f"GRANT SELECT ON users TO {auditor}")
    env = pair.env()
    del env["MIGRATE_TO_ADMIN_URL"]
    result = run_cli("data", "sync", *pair.cli_args(), "--no-media", env={**env, "MIGRATE_TO_ADMIN_URL": ""})
    assert result.returncode == 1
    assert auditor in result.stderr and "CREATEROLE" in result.stderr


def _start_cli(pair: Pair, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), **pair.env()}
    return subprocess.Popen(
        [sys.executable, "-m", "migrate", "data", "sync", *pair.cli_args(), *args, "--json"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


COPY_KILL_OBJECTS = 1_000


def test_media_copy_killed_halfway_resumes_without_copying_twice(pair: Pair) -> None:
    # Many small objects: the kill (as soon as a few are there) lands long before the end.
    made = put_objects(pair.a, COPY_KILL_OBJECTS, 4_000)
    assert isinstance(pair.b.s3_server, S3Server)
    log = pair.b.s3_server.access_log_path
    log_start = log.stat().st_size
    process = _start_cli(pair, "--no-postgres", "--workers", "2")
    client = pair.b.s3()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        present = client.list_objects_v2(Bucket=pair.b.bucket).get("KeyCount", 0)
        if present >= 60:
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    present = client.list_objects_v2(Bucket=pair.b.bucket).get("KeyCount", 0)
    assert 0 < present < COPY_KILL_OBJECTS, "the kill must land half-way"

    rerun = _start_cli(pair, "--no-postgres")
    out, err = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, err
    doc = json.loads(out)
    assert doc["verify"]["ok"]
    assert (
        doc["media"][0]["skipped"] >= present
        and doc["media"][0]["copied"] == COPY_KILL_OBJECTS - doc["media"][0]["skipped"]
    )

    # The destination server's own access log: every key PUT exactly once across both runs.
    puts: dict[str, int] = {}
    with log.open() as handle:
        handle.seek(log_start)
        for line in handle:
            fields = line.split(" ")  # owner bucket [date zone] ip requester id operation key uri status
            if len(fields) > 10 and fields[1] == pair.b.bucket and fields[7] == "s3_PutObject" and fields[10] == "200":
                puts[fields[8]] = puts.get(fields[8], 0) + 1
    assert set(puts) == set(made)
    assert max(puts.values()) == 1, {k: v for k, v in puts.items() if v > 1}


def test_postgres_restore_killed_halfway_reruns_clean(pair: Pair) -> None:
    seed_database(pair, rows=400_000)
    process = _start_cli(pair, "--no-media", "--jobs", "2")
    deadline = time.monotonic() + 60
    copying = False
    while time.monotonic() < deadline and process.poll() is None:
        if pair.b.sql("SELECT count(*) FROM pg_stat_progress_copy", admin=True)[0][0]:
            copying = True
            break
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert copying, "the kill must land during the restore"
    # Re-run at once: a pg_restore worker still finishing its COPY only delays the re-run's DROP.

    rerun = _start_cli(pair, "--no-media", "--jobs", "2")
    out, err = rerun.communicate(timeout=180)
    assert rerun.returncode == 0, err
    assert json.loads(out)["verify"]["ok"]
    assert pair.b.sql("SELECT count(*), count(DISTINCT id) FROM posts") == [(400_000, 400_000)]
