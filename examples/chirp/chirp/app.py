"""The chirp web app (Flask): JSON API, a tiny HTML page and /healthz."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import psycopg
from botocore.exceptions import BotoCoreError, ClientError
from flask import Flask, Response, g, jsonify, render_template_string, request
from psycopg.types.json import Jsonb
from werkzeug.exceptions import HTTPException

from .cache import TimelineCache
from .config import Settings
from .db import connect, connection_pool, first_line
from .media import MediaStore, sniff_content_type

log = logging.getLogger(__name__)

MAX_TEXT = 500
TIMELINE_LIMIT = 50

POST_COLUMNS = """
    p.id, u.name AS user, p.text, p.created_at,
    m.key AS media_key, m.sha256, m.size, m.content_type, m.width, m.height, m.verified_at
"""
POST_FROM = "posts p JOIN users u ON u.id = p.user_id LEFT JOIN media m ON m.id = p.media_id"

INDEX_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>chirp</title></head>
<body><h1>chirp</h1>
{% for p in posts %}<article><b>{{ p.user }}</b> <small>#{{ p.id }} {{ p.created_at }}</small>
<p>{{ p.text }}</p>{% if p.media_key %}<img src="/media/{{ p.media_key }}" alt=""
 style="max-width:320px">{% endif %}</article>
{% else %}<p>No posts yet.</p>{% endfor %}
</body></html>
"""


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def post_json(row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": row["id"],
        "user": row["user"],
        "text": row["text"],
        "created_at": iso(row["created_at"]),
        "media_key": row["media_key"],
    }
    if row["media_key"]:
        out["media"] = {
            "key": row["media_key"],
            "url": f"/media/{row['media_key']}",
            "sha256": row["sha256"].strip(),
            "size": row["size"],
            "content_type": row["content_type"],
            "width": row["width"],
            "height": row["height"],
            "verified_at": iso(row["verified_at"]),
        }
    return out


def create_app(settings: Settings, media: MediaStore | None = None) -> Flask:
    app = Flask("chirp")
    app.config["SECRET_KEY"] = settings.session_key
    app.config["MAX_CONTENT_LENGTH"] = settings.max_upload_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    store = media or MediaStore(settings)
    health_store = MediaStore(settings, timeout_s=2, attempts=1)
    cache = TimelineCache(settings.redis_url)
    pool = connection_pool(settings.database_url)

    def db() -> psycopg.Connection[dict]:
        if "db" not in g:
            g.db = pool.getconn()
        conn: psycopg.Connection[dict] = g.db
        return conn

    @app.teardown_appcontext
    def close_db(_exc: BaseException | None) -> None:
        conn = g.pop("db", None)
        if conn is not None:
            if conn.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS:
                conn.rollback()  # a read left its transaction open; writes commit themselves
            pool.putconn(conn)  # a broken connection is discarded there, not reused

    @app.errorhandler(ApiError)
    def api_error(exc: ApiError) -> tuple[Response, int]:
        return jsonify(error=exc.message), exc.status

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> tuple[Response, int]:
        return jsonify(error=exc.description or exc.name), exc.code or 500

    @app.errorhandler(psycopg.OperationalError)
    def db_down(exc: psycopg.OperationalError) -> tuple[Response, int]:
        log.error("database unavailable: %s", first_line(exc))
        return jsonify(error="database unavailable"), 503

    @app.errorhandler(BotoCoreError)
    @app.errorhandler(ClientError)
    def media_down(exc: Exception) -> tuple[Response, int]:
        log.error("media store unavailable: %s", first_line(exc))
        return jsonify(error="media store unavailable"), 503

    def body() -> dict[str, Any]:
        data = request.get_json(silent=True) if request.is_json else request.form.to_dict()
        if not isinstance(data, dict):
            raise ApiError(400, "expected a JSON object or form fields")
        return data

    def field(data: dict[str, Any], name: str) -> str:
        value = data.get(name)
        if not isinstance(value, str) or not value.strip():
            raise ApiError(400, f"field '{name}' is required (a non-empty string)")
        return value.strip()

    def user_id(conn: psycopg.Connection[dict], name: str) -> int:
        row = conn.execute("SELECT id FROM users WHERE name = %s", (name,)).fetchone()
        if row is None:
            raise ApiError(404, f"no such user: {name}")
        return int(row["id"])

    @app.get("/healthz")
    def healthz() -> tuple[Response, int]:
        checks: dict[str, str] = {}
        failed: list[str] = []
        try:
            with connect(settings.database_url, autocommit=True) as conn:
                conn.execute("SELECT 1")
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = first_line(exc)
            failed.append("database")
        try:
            health_store.check()
            checks["media"] = "ok"
        except Exception as exc:
            checks["media"] = first_line(exc)
            failed.append("media")
        if cache.enabled:  # optional: reported, never fatal
            try:
                cache.check()
                checks["redis"] = "ok"
            except Exception as exc:
                checks["redis"] = first_line(exc)
        ok = not failed
        payload: dict[str, Any] = {"ok": ok, "checks": checks}
        if failed:
            payload["failed"] = failed
            log.warning("healthz failing: %s", ", ".join(failed))
        return jsonify(payload), 200 if ok else 503

    @app.get("/")
    def index() -> str:
        rows = db().execute(f"SELECT {POST_COLUMNS} FROM {POST_FROM} ORDER BY p.id DESC LIMIT 20").fetchall()
        return render_template_string(INDEX_HTML, posts=[post_json(r) for r in rows])

    @app.post("/users")
    def create_user() -> tuple[Response, int]:
        name = field(body(), "name")
        conn = db()
        try:
            row = conn.execute(
                "INSERT INTO users (name) VALUES (%s) RETURNING id, name, created_at", (name,)
            ).fetchone()
            conn.commit()
        except psycopg.errors.UniqueViolation:
            raise ApiError(409, f"user exists: {name}") from None
        except psycopg.errors.CheckViolation:
            raise ApiError(400, "name must be 1-64 of A-Z a-z 0-9 _ . -") from None
        assert row is not None
        return jsonify(id=row["id"], name=row["name"], created_at=iso(row["created_at"])), 201

    @app.get("/users/<name>")
    def get_user(name: str) -> Response:
        row = (
            db()
            .execute(
                """SELECT u.id, u.name, u.created_at,
                      (SELECT count(*) FROM posts WHERE user_id = u.id) AS posts,
                      (SELECT count(*) FROM follows WHERE followee_id = u.id) AS followers,
                      (SELECT count(*) FROM follows WHERE follower_id = u.id) AS following
               FROM users u WHERE u.name = %s""",
                (name,),
            )
            .fetchone()
        )
        if row is None:
            raise ApiError(404, f"no such user: {name}")
        return jsonify({**row, "created_at": iso(row["created_at"])})

    @app.post("/follows")
    def follow() -> tuple[Response, int]:
        data = body()
        follower, followee = field(data, "follower"), field(data, "followee")
        if follower == followee:
            raise ApiError(400, "a user cannot follow themselves")
        conn = db()
        follower_id, followee_id = user_id(conn, follower), user_id(conn, followee)
        row = conn.execute(
            """INSERT INTO follows (follower_id, followee_id) VALUES (%s, %s)
               ON CONFLICT (follower_id, followee_id) DO NOTHING RETURNING id""",
            (follower_id, followee_id),
        ).fetchone()
        conn.commit()
        cache.invalidate([follower_id])
        created = row is not None
        return jsonify(follower=follower, followee=followee, created=created), (201 if created else 200)

    @app.post("/posts")
    def create_post() -> tuple[Response, int]:
        data = body()
        name, text = field(data, "user"), str(data.get("text") or "").strip()
        upload = request.files.get("image")
        if len(text) > MAX_TEXT:
            raise ApiError(400, f"text longer than {MAX_TEXT} characters")
        if not text and upload is None:
            raise ApiError(400, "a post needs text or an image")
        conn = db()
        author_id = user_id(conn, name)
        media_id: int | None = None
        media_key: str | None = None
        if upload is not None:
            content = upload.read()
            content_type = sniff_content_type(content)
            if content_type is None:
                raise ApiError(415, "image must be PNG, JPEG, GIF or WebP")
            stored = store.put(content, content_type)  # before the row: no row without object
            media_row = conn.execute(
                """INSERT INTO media (key, sha256, size, content_type) VALUES (%s, %s, %s, %s)
                   ON CONFLICT (key) DO UPDATE SET key = EXCLUDED.key
                   RETURNING id, verified_at""",
                (stored.key, stored.sha256, stored.size, stored.content_type),
            ).fetchone()
            assert media_row is not None
            media_id, media_key = int(media_row["id"]), stored.key
            if media_row["verified_at"] is None:
                conn.execute(
                    "INSERT INTO jobs (kind, payload) VALUES ('media.inspect', %s)",
                    (Jsonb({"media_id": media_id}),),
                )
        row = conn.execute(
            "INSERT INTO posts (user_id, text, media_id) VALUES (%s, %s, %s) RETURNING id, created_at",
            (author_id, text, media_id),
        ).fetchone()
        followers = conn.execute("SELECT follower_id FROM follows WHERE followee_id = %s", (author_id,)).fetchall()
        conn.commit()  # the 201 below is sent only once the post is durable
        assert row is not None
        cache.invalidate([author_id, *(int(f["follower_id"]) for f in followers)])
        out: dict[str, Any] = {"id": row["id"], "user": name, "text": text, "created_at": iso(row["created_at"])}
        if media_key:
            out["media_key"] = media_key
        return jsonify(out), 201

    @app.get("/posts/<int:post_id>")
    def get_post(post_id: int) -> Response:
        row = db().execute(f"SELECT {POST_COLUMNS} FROM {POST_FROM} WHERE p.id = %s", (post_id,)).fetchone()
        if row is None:
            raise ApiError(404, f"no such post: {post_id}")
        return jsonify(post_json(row))

    @app.get("/media/<path:key>")
    def get_media(key: str) -> Response:
        try:
            head, chunks = store.open(key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise ApiError(404, f"no such media: {key}") from None
            raise
        headers = {"Cache-Control": "public, max-age=31536000, immutable"}
        if "ContentLength" in head:
            headers["Content-Length"] = str(head["ContentLength"])
        if "ETag" in head:
            headers["ETag"] = head["ETag"]
        return Response(chunks, mimetype=head.get("ContentType"), headers=headers)

    @app.get("/timeline/<name>")
    def timeline(name: str) -> Response:
        conn = db()
        uid = user_id(conn, name)
        cached = cache.get(uid)
        if cached is not None:
            return jsonify(user=name, posts=cached, cached=True)
        rows = conn.execute(
            f"""SELECT {POST_COLUMNS} FROM {POST_FROM}
                WHERE p.user_id = %s
                   OR p.user_id IN (SELECT followee_id FROM follows WHERE follower_id = %s)
                ORDER BY p.id DESC LIMIT %s""",
            (uid, uid, TIMELINE_LIMIT),
        ).fetchall()
        posts = [post_json(r) for r in rows]
        cache.put(uid, posts)
        return jsonify(user=name, posts=posts, cached=False)

    return app
