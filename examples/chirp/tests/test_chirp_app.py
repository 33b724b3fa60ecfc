"""chirp end to end: real Postgres 15, a real S3 server (versitygw), real Redis, chirp's own processes."""

from __future__ import annotations

import hashlib
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Callable
from typing import Any, TypeVar

import boto3
import httpx
import psycopg
import pytest
from chirp_servers import S3, ChirpWeb, ChirpWorker, Postgres, chirp_env

T = TypeVar("T")


def png(width: int, height: int, seed: int = 0) -> bytes:
    """A valid RGB PNG, made by hand (no Pillow here)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + bytes((x * 7 + y * 3 + seed) % 256 for x in range(width * 3)) for y in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def wait_for(check: Callable[[], T], timeout: float = 10) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def s3_client(env: dict[str, str]) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=env["S3_ENDPOINT"],
        region_name=env["S3_REGION"],
        aws_access_key_id=env["S3_ACCESS_KEY"],
        aws_secret_access_key=env["S3_SECRET_KEY"],
    )


def test_social_flow_with_image_end_to_end(web: ChirpWeb, worker: ChirpWorker, env: dict[str, str]) -> None:
    with httpx.Client(base_url=web.url, timeout=10) as c:
        assert c.post("/users", json={"name": "alice"}).status_code == 201
        assert c.post("/users", json={"name": "bob"}).status_code == 201
        assert c.post("/users", json={"name": "alice"}).status_code == 409
        assert c.post("/users", json={"name": "no spaces"}).status_code == 400
        assert c.post("/follows", json={"follower": "bob", "followee": "alice"}).status_code == 201
        assert c.post("/follows", json={"follower": "bob", "followee": "alice"}).status_code == 200
        assert c.post("/follows", json={"follower": "bob", "followee": "nobody"}).status_code == 404

        first = c.post("/posts", json={"user": "alice", "text": "hello <world>"})
        assert first.status_code == 201, first.text
        image = png(37, 21)
        second = c.post(
            "/posts",
            data={"user": "alice", "text": "a picture"},
            files={"image": ("pic.png", image, "application/octet-stream")},
        )
        assert second.status_code == 201, second.text
        media_key = second.json()["media_key"]
        assert media_key == f"media/{hashlib.sha256(image).hexdigest()}"

        fetched = c.get(f"/media/{media_key}")
        assert fetched.status_code == 200
        assert fetched.headers["content-type"] == "image/png"  # sniffed, not the client's
        assert hashlib.sha256(fetched.content).hexdigest() == hashlib.sha256(image).hexdigest()

        post = c.get(f"/posts/{second.json()['id']}").json()
        assert post["media"]["sha256"] == hashlib.sha256(image).hexdigest()
        assert post["media"]["size"] == len(image)

        timeline = c.get("/timeline/bob").json()
        assert [p["id"] for p in timeline["posts"]] == [second.json()["id"], first.json()["id"]]
        assert timeline["posts"][0]["media_key"] == media_key
        assert c.get("/timeline/bob").json()["cached"] is True
        third = c.post("/posts", json={"user": "alice", "text": "after the cache"}).json()
        fresh = c.get("/timeline/bob").json()  # the new post invalidated bob's cached timeline
        assert fresh["posts"][0]["id"] == third["id"]
        assert c.get("/timeline/alice").json()["posts"][0]["id"] == third["id"]

        page = c.get("/")
        assert page.status_code == 200 and "hello &lt;world&gt;" in page.text
        assert c.get("/posts/999999").status_code == 404

        # The worker re-reads the object from S3, checks it and records its dimensions.
        def verified() -> dict | None:
            media = c.get(f"/posts/{second.json()['id']}").json()["media"]
            return media if media["verified_at"] else None

        media = wait_for(verified)
        assert media, "worker did not verify the upload:\n" + worker.output()
        assert (media["width"], media["height"]) == (37, 21)

    # The object in the bucket and the row in the database agree.
    stored = s3_client(env).get_object(Bucket=env["S3_BUCKET"], Key=media_key)["Body"].read()
    assert stored == image
    with psycopg.connect(env["DATABASE_URL"]) as conn:
        row = conn.execute("SELECT sha256, size, content_type FROM media WHERE key = %s", (media_key,)).fetchone()
    assert row == (hashlib.sha256(image).hexdigest(), len(image), "image/png")


def test_rejects_files_that_are_not_images(web: ChirpWeb) -> None:
    httpx.post(web.url + "/users", json={"name": "mallory"})
    response = httpx.post(
        web.url + "/posts",
        data={"user": "mallory", "text": "x"},
        files={"image": ("evil.png", b"<script>", "image/png")},
    )
    assert response.status_code == 415


def test_worker_flags_an_object_corrupted_in_the_bucket(
    web: ChirpWeb, worker: ChirpWorker, env: dict[str, str]
) -> None:
    httpx.post(web.url + "/users", json={"name": "carol"})
    image = png(5, 5, seed=99)
    key = httpx.post(
        web.url + "/posts", data={"user": "carol", "text": "ok"}, files={"image": ("c.png", image)}
    ).json()["media_key"]
    s3_client(env).put_object(Bucket=env["S3_BUCKET"], Key=key, Body=b"not the same bytes")
    with psycopg.connect(env["DATABASE_URL"], autocommit=True) as conn:
        conn.execute("UPDATE media SET verified_at = NULL WHERE key = %s", (key,))
        (job_id,) = conn.execute(
            "INSERT INTO jobs (kind, payload) SELECT 'media.inspect', jsonb_build_object("
            "'media_id', id) FROM media WHERE key = %s RETURNING id",
            (key,),
        ).fetchone() or (0,)

        def failed_attempt() -> str | None:
            row = conn.execute("SELECT last_error FROM jobs WHERE id = %s", (job_id,)).fetchone()
            return row[0] if row else None

        error = wait_for(failed_attempt)
    assert error and "sha256" in error, worker.output()


def test_healthz_reports_database_media_and_redis(web: ChirpWeb) -> None:
    response = httpx.get(web.url + "/healthz")
    assert response.status_code == 200
    assert response.json() == {"ok": True, "checks": {"database": "ok", "media": "ok", "redis": "ok"}}


def test_healthz_503_names_media_when_s3_server_stops(postgres: Postgres) -> None:
    with S3() as s3, ChirpWeb(chirp_env(postgres.url, s3)) as web:
        assert httpx.get(web.url + "/healthz").status_code == 200
        s3.stop()
        response = httpx.get(web.url + "/healthz", timeout=15)
        assert response.status_code == 503
        body = response.json()
        assert body["ok"] is False and body["failed"] == ["media"]
        assert body["checks"]["database"] == "ok"
        assert web.stop() == 0  # SIGTERM: graceful shutdown, exit 0


def test_healthz_503_names_database_when_it_is_unreachable(s3: S3, postgres: Postgres) -> None:
    from chirp.app import create_app
    from chirp.config import Settings
    from chirp_servers import free_port

    env = chirp_env(f"postgresql://chirp:pw@127.0.0.1:{free_port()}/chirp", s3)
    settings = Settings.from_env(env)
    from chirp.media import MediaStore

    MediaStore(settings).ensure_bucket()
    response = create_app(settings).test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["failed"] == ["database"]
    assert response.get_json()["checks"]["media"] == "ok"


def test_secrets_never_reach_the_logs(
    web: ChirpWeb, worker: ChirpWorker, env: dict[str, str], postgres: Postgres
) -> None:
    httpx.get(web.url + "/healthz")
    logs = web.output() + worker.output()
    assert "listening on" in logs
    for secret in (postgres.password, env["S3_SECRET_KEY"], env["CHIRP_SESSION_KEY"]):
        assert secret not in logs


def test_schema_is_idempotent_and_every_table_has_a_sequence(web: ChirpWeb, env: dict[str, str]) -> None:
    for _ in range(2):
        done = subprocess.run(
            [sys.executable, "-m", "chirp.migrate_db"], env={**env}, capture_output=True, text=True, timeout=30
        )
        assert done.returncode == 0, done.stderr
    with psycopg.connect(env["DATABASE_URL"]) as conn:
        for table in ("users", "follows", "media", "posts", "jobs"):
            (seq,) = conn.execute("SELECT pg_get_serial_sequence(%s, 'id')", (table,)).fetchone() or (None,)
            assert seq == f"public.{table}_id_seq"


@pytest.mark.parametrize("missing", ["DATABASE_URL", "CHIRP_SESSION_KEY"])
def test_web_refuses_to_start_without_required_config(env: dict[str, str], missing: str) -> None:
    bad = {k: v for k, v in env.items() if k != missing}
    done = subprocess.run(
        [sys.executable, "-m", "chirp.web", "--port", "1"], env=bad, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 2
    assert missing in done.stderr
