"""Run the web app: ``python -m chirp.web --host H --port P``.

Applies the schema and creates the media bucket, then serves with werkzeug's threaded WSGI
server (no extra dependency). SIGTERM/SIGINT stop accepting, finish in-flight requests, exit 0.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from types import FrameType

from werkzeug.serving import make_server

from .app import create_app
from .config import ConfigError, Settings, setup_logging
from .db import first_line, wait_and_apply_schema
from .media import MediaStore

log = logging.getLogger("chirp.web")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m chirp.web", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8080, help="port to listen on")
    parser.add_argument(
        "--wait",
        type=float,
        default=30,
        metavar="SECONDS",
        help="how long to wait for the database at start (default 30)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        settings = Settings.from_env()
        if not settings.session_key:
            raise ConfigError("missing environment variable(s): CHIRP_SESSION_KEY")
    except ConfigError as exc:
        print(f"chirp.web: {exc}", file=sys.stderr)
        return 2
    setup_logging(settings.log_level)
    log.info("starting: %s", settings.describe())
    try:
        wait_and_apply_schema(settings.database_url, args.wait)
        media = MediaStore(settings)
        media.ensure_bucket()
    except Exception as exc:
        log.error("cannot start: %s", first_line(exc))
        return 1
    app = create_app(settings, media)
    server = make_server(args.host, args.port, app, threaded=True)

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %s: shutting down", signal.Signals(signum).name)
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("listening on http://%s:%d", args.host, server.server_port)
    server.serve_forever()
    server.server_close()
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
