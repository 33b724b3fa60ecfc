"""The holding page: a tiny static HTTP server, up within a second, detached from migrate.

It answers every path with the spec's title and message as ``503 Service Unavailable`` and
``Retry-After`` (so caches and crawlers do not keep it), plus ``X-Migrate-Holding: 1`` so
checks can tell it from the real service. It runs as its own session, so it survives the
command (or SSH session) that started it.

Where it runs: on the address DNS already points at whenever that is possible, because then
it is served at the domain at once, with no DNS change to wait for. In the local sandbox the
old host's processes are dead after a failure, so the page takes over the *old* target's
address and port (``--on local-a``). Elsewhere give ``--bind`` an address on a machine you
control and let the failover point DNS at it.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from migrate.childenv import child_env

RETRY_AFTER = "120"


def render(title: str, message: str) -> bytes:
    t, m = html.escape(title), html.escape(message)
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        "<meta name=viewport content='width=device-width,initial-scale=1'>"
        f"<title>{t}</title><style>body{{font:18px/1.5 system-ui,sans-serif;max-width:36em;"
        "margin:15vh auto;padding:0 1em;color:#222}h1{font-size:1.6em}</style></head>"
        f"<body><h1>{t}</h1><p>{m}</p></body></html>\n"
    ).encode()


def serve(bind: str, port: int, title: str, message: str) -> None:
    body = render(title, message)

    class Handler(BaseHTTPRequestHandler):
        server_version = "migrate-holding-page"

        def _send(self, with_body: bool) -> None:
            self.send_response(503)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Retry-After", RETRY_AFTER)
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Migrate-Holding", "1")
            self.end_headers()
            if with_body:
                self.wfile.write(body)

        def do_GET(self) -> None:
            self._send(True)

        def do_HEAD(self) -> None:
            self._send(False)

        do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

        def log_message(self, format: str, *args: Any) -> None:
            pass

    ThreadingHTTPServer.allow_reuse_address = True
    with ThreadingHTTPServer((bind, port), Handler) as server:
        server.serve_forever()


def _state_dir() -> Path:
    from migrate.home import migrate_home

    return migrate_home() / "holding"


def _state_file(bind: str, port: int) -> Path:
    return _state_dir() / f"{bind}_{port}.json"


def is_serving(bind: str, port: int, timeout: float = 1.0) -> bool:
    import httpx

    try:
        response = httpx.get(f"http://{bind}:{port}/", timeout=timeout)
    except httpx.HTTPError:
        return False
    return response.headers.get("x-migrate-holding") == "1"


def up(bind: str, port: int, title: str, message: str, *, timeout: float = 10.0) -> dict[str, Any]:
    """Start the page (or find it already up); return where it is and how long it took."""
    from providers.local.servers.process import alive, spawn, wait_until

    started = time.monotonic()
    state = _state_file(bind, port)
    if is_serving(bind, port):
        pid = json.loads(state.read_text()).get("pid") if state.exists() else None
        return {"url": f"http://{bind}:{port}/", "pid": pid, "seconds": 0.0, "already_up": True}
    import sys

    log = _state_dir() / f"{bind}_{port}.log"
    pid = spawn(
        [
            sys.executable,
            "-m",
            "migrate.holding_page",
            "--bind",
            bind,
            "--port",
            str(port),
            "--title",
            title,
            "--message",
            message,
        ],
        log,
        env=child_env({"PYTHONPATH": os.pathsep.join(sys.path)}),
    )
    state.parent.mkdir(parents=True, exist_ok=True)
    state.write_text(json.dumps({"pid": pid, "bind": bind, "port": port}))
    wait_until(
        lambda: is_serving(bind, port, 0.3),
        what=f"holding page on {bind}:{port}",
        timeout=timeout,
        pid=pid,
        log_path=log,
    )
    assert alive(pid)
    return {
        "url": f"http://{bind}:{port}/",
        "pid": pid,
        "seconds": round(time.monotonic() - started, 3),
        "already_up": False,
    }


def down(bind: str, port: int) -> bool:
    """Stop the page started for ``bind:port``; False if none was running."""
    from providers.local.servers.process import stop

    state = _state_file(bind, port)
    if not state.exists():
        return False
    pid = json.loads(state.read_text()).get("pid")
    stop(pid)
    state.unlink(missing_ok=True)
    return True


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bind", required=True)
    parser.add_argument("--port", type=int, default=80)
    parser.add_argument("--title", required=True)
    parser.add_argument("--message", required=True)
    args = parser.parse_args(argv)
    serve(args.bind, args.port, args.title, args.message)


if __name__ == "__main__":
    main()
