"""A stand-in social app for the engine tests: real Postgres, S3 and Redis behind it.

``python standin_app.py web --host H --port P`` serves:
  GET  /healthz            200 once Postgres answers
  POST /posts?name=N       stores the body in S3 and a row in Postgres; 201 {"id": ..}
  GET  /posts/<id>         the stored body, read back from S3
  GET  /whoami             the replica and the Host header it saw
``python standin_app.py worker`` just stays alive (a worker with nothing to do).
"""

from __future__ import annotations

import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def _s3():
    import boto3
    from botocore.config import Config

    return boto3.client("s3", endpoint_url=os.environ["S3_ENDPOINT"], region_name=os.environ["S3_REGION"],
                        aws_access_key_id=os.environ["S3_ACCESS_KEY"],
                        aws_secret_access_key=os.environ["S3_SECRET_KEY"],
                        config=Config(s3={"addressing_style": "path"}))


def _db():
    import psycopg

    return psycopg.connect(os.environ["DATABASE_URL"], autocommit=True)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes, kind: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/healthz":
            with _db() as conn:
                conn.execute("SELECT 1")
            self._send(200, b'{"ok": true}')
        elif self.path == "/whoami":
            body = {"replica": os.environ.get("REPLICA"), "host": self.headers.get("Host"),
                    "greeting": os.environ.get("GREETING")}
            self._send(200, json.dumps(body).encode())
        elif self.path.startswith("/posts/"):
            post_id = int(self.path.rsplit("/", 1)[-1])
            with _db() as conn:
                row = conn.execute("SELECT key FROM posts WHERE id = %s", (post_id,)).fetchone()
            if row is None:
                self._send(404, b"{}")
                return
            data = _s3().get_object(Bucket=os.environ["S3_BUCKET"], Key=row[0])["Body"].read()
            self._send(200, data, "application/octet-stream")
        else:
            self._send(404, b"{}")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(length)
        key = f"media/{time.time_ns()}"
        _s3().put_object(Bucket=os.environ["S3_BUCKET"], Key=key, Body=data)
        with _db() as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS posts (id serial PRIMARY KEY, key text NOT NULL)")
            post_id = conn.execute("INSERT INTO posts (key) VALUES (%s) RETURNING id", (key,)).fetchone()[0]
        self._send(201, json.dumps({"id": post_id}).encode())


def main() -> None:
    kind = sys.argv[1]
    if kind == "worker":
        import redis

        redis.Redis.from_url(os.environ["REDIS_URL"]).ping()
        while True:
            time.sleep(3600)
    host = sys.argv[sys.argv.index("--host") + 1]
    port = int(sys.argv[sys.argv.index("--port") + 1])
    ThreadingHTTPServer((host, port), Handler).serve_forever()


if __name__ == "__main__":
    main()
