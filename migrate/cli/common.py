"""Options and output conventions every command shares.

``--json`` prints exactly one JSON document on stdout; everything for humans
(progress, logs, tables) goes to stderr in that mode, and to stdout otherwise.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from migrate.spec.model import ServiceSpec

SpecOption = Annotated[
    Path,
    typer.Option(
        "--spec",
        "-f",
        envvar="MIGRATE_SPEC",
        help="The service spec file.",
        show_default=True,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one machine-readable JSON document on stdout.")]
DEFAULT_SPEC = Path("migrate.yaml")


def verbose() -> bool:
    return os.environ.get("MIGRATE_VERBOSE", "") not in ("", "0")


class Output:
    """Where a command writes: results to stdout, progress and logs to stderr."""

    def __init__(self, json_mode: bool) -> None:
        from rich.console import Console

        self.json_mode = json_mode
        self.stdout: Console = Console(highlight=False)
        self.stderr: Console = Console(stderr=True, highlight=False)

    @property
    def human(self) -> Console:
        """Console for human-readable results: stderr in --json mode, stdout otherwise."""
        return self.stderr if self.json_mode else self.stdout

    def emit(self, document: Any) -> None:
        """Print the command's JSON document (only in --json mode)."""
        if self.json_mode:
            # Compact: json's C encoder only runs without ``indent``; the pure-Python one took
            # seconds on a swing of 10,000 records. ``| jq .`` pretty-prints.
            sys.stdout.write(json.dumps(document, default=str, separators=(",", ":")) + "\n")
            sys.stdout.flush()

    def progress(self, *columns: Any, transient: bool = False) -> Any:
        """A rich progress display on stderr with counts and rates."""
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TransferSpeedColumn,
        )

        if not columns:
            columns = (
                TextColumn("[progress.description]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TaskProgressColumn(),
                TransferSpeedColumn(),
                TimeElapsedColumn(),
            )
        return Progress(*columns, console=self.stderr, transient=transient)


def load(spec_path: Path) -> ServiceSpec:
    from migrate.spec.loader import load_spec

    return load_spec(spec_path)
