"""Entry point: run the typer app and turn errors into one line and an exit code."""

from __future__ import annotations

import gc
import json
import os
import sys
from typing import Any

from migrate.errors import EXIT_BAD_INPUT, EXIT_FAILED, MigrateError


def main(argv: list[str] | None = None) -> None:
    try:
        _run(argv)
    except SystemExit as exc:
        _leave_stranded_threads(exc.code)
        raise


def _leave_stranded_threads(code: object) -> None:
    """Exit now if a failed engine run left the inline program's thread stuck.

    When the Pulumi engine fails while the inline program waits on it (an invoke or a
    resource registration of a provider whose plugin could not load), that program thread
    never returns, and the interpreter would wait for it at exit forever. Our work is done
    and the error printed: run the exit handlers, flush, and leave.
    """
    import threading

    from migrate.engine.errors import engine_failed

    # Executor workers are daemon threads, yet concurrent.futures joins them at shutdown all
    # the same: any live thread besides this one can hold the exit.
    if not engine_failed() or not any(t.is_alive() and t is not threading.main_thread() for t in threading.enumerate()):
        return
    import atexit
    import contextlib

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code if isinstance(code, int) else (0 if code is None else EXIT_FAILED))


def _run(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if "--verbose" in args or "-v" in args:
        args = [arg for arg in args if arg not in ("--verbose", "-v")]
        os.environ["MIGRATE_VERBOSE"] = "1"
    json_mode = "--json" in args
    from migrate.cli import prestart

    prestart.begin(args)  # before the imports below: servers can work while Python loads
    _configure_logging()
    import typer

    from migrate.cli.app import build_app

    if not _long_running(args):  # it ends soon: what bulk work built need not be scanned again
        from migrate.gcpause import freeze_after_pauses

        freeze_after_pauses()

    click = _click_exceptions()

    command = build_app(args)
    try:
        code = command.main(args=args, prog_name="migrate", standalone_mode=False)
    except typer.Exit as exc:
        code = exc.exit_code
    except typer.Abort:
        _fail("aborted", 130, json_mode)
    except click.ClickException as exc:
        _show_escaped(exc)
        sys.exit(EXIT_BAD_INPUT if isinstance(exc, click.UsageError) else exc.exit_code)
    except MigrateError as exc:
        _fail(str(exc), exc.exit_code, json_mode)
    except KeyboardInterrupt:
        _fail("interrupted", 130, json_mode)
    except Exception as exc:
        if os.environ.get("MIGRATE_VERBOSE"):
            raise
        _fail(f"internal error: {type(exc).__name__}: {exc} (run with --verbose for details)", EXIT_FAILED, json_mode)
    # The interpreter's last garbage collection at exit walks every object the imports made
    # (pydantic, psycopg, rich...) only to free memory the OS takes back anyway: ~0.15 s per
    # command. Frozen objects are skipped; atexit handlers and stream flushes still run.
    gc.freeze()
    sys.exit(code if isinstance(code, int) else 0)


def _long_running(args: list[str]) -> bool:
    """Commands that run for minutes or until stopped: their memory must stay collectable."""
    from migrate.cli.app import command_name

    name = command_name(args)
    return name in ("failover", "drill") or (name == "data" and "follow" in args)


def _click_exceptions() -> Any:
    """Typer vendors click (typer._click) in recent versions; older ones use click."""
    try:
        from typer._click import exceptions
    except ImportError:  # pragma: no cover - depends on the installed typer
        from click import exceptions  # type: ignore[no-redef]
    return exceptions


def _show_escaped(exc: Any) -> None:
    """click's usage error, with any control character in what the user typed escaped."""
    import io

    from migrate.inputfiles import escape_controls

    buffer = io.StringIO()
    exc.show(file=buffer)
    sys.stderr.write("\n".join(escape_controls(line) for line in buffer.getvalue().split("\n")))


def _fail(message: str, code: int, json_mode: bool) -> None:
    from migrate.inputfiles import escape_controls
    from migrate.redact import redact

    message = redact(message)
    # one line per problem; any other control character (ESC, CR ...) is shown escaped
    lines = [escape_controls(line) for line in message.split("\n")]
    for line in lines:
        sys.stderr.write(f"error: {line}\n" if not line.startswith("error:") else line + "\n")
    if json_mode:
        sys.stdout.write(json.dumps({"ok": False, "error": message, "exit_code": code}) + "\n")
    sys.exit(code)


def _configure_logging() -> None:
    import logging

    level = logging.DEBUG if os.environ.get("MIGRATE_VERBOSE") else logging.WARNING
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(levelname)s %(message)s", stream=sys.stderr)
    from migrate.redact import install_log_filter

    install_log_filter()
