"""Work a command can start before the CLI framework loads: today, the media listings of
``data sync`` and ``data verify`` given outputs files (CI's way of naming targets).

Why: see ``migrate.data.prefetch``. Reads the raw command line with no parser and only the
standard library; anything it does not recognise, or any file it cannot read, means it starts
nothing and the command runs exactly as without it. It never prints and never fails.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path


def begin(args: Sequence[str]) -> None:
    """Start what ``args`` will need first, if it can be known for sure from them alone."""
    try:
        _media_listings(list(args))
    except Exception:  # a head start is optional: the command does the work anyway
        return


def _media_listings(args: list[str]) -> None:
    words = [arg for arg in args if not arg.startswith("-")]
    if words[:2] not in (["data", "sync"], ["data", "verify"]) or "--no-media" in args:
        return
    # With a spec the buckets to pair come from it (its parsing is the CLI's job): no head start.
    if "-f" in args or "--spec" in args or os.environ.get("MIGRATE_SPEC") or Path("migrate.yaml").exists():
        return
    from migrate.inputfiles import read_input_json  # a regular file, capped: a FIFO must not hang

    source, dest = (read_input_json(Path(_value(args, f"--{side}-outputs"))) for side in ("from", "to"))
    from migrate.data import prefetch, s3_http

    for name, bucket in sorted(source["s3_buckets"].items()):
        for outputs, side_bucket in ((source, bucket), (dest, dest.get("s3_buckets", {}).get(name, name))):
            endpoint = s3_http.Endpoint(
                outputs["s3_endpoint"],
                outputs.get("s3_region") or "us-east-1",
                outputs["s3_access_key"],
                outputs["s3_secret_key"],
            )
            prefetch.start(endpoint, side_bucket)


def _value(args: list[str], option: str) -> str:
    for index, arg in enumerate(args):
        if arg == option:
            return args[index + 1]
        if arg.startswith(option + "="):
            return arg.split("=", 1)[1]
    raise LookupError(option)
