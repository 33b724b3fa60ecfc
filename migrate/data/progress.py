"""Progress reporting without printing: core code calls a callback, the CLI draws bars."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class ProgressUpdate:
    """One step forward in a named task (``media app-media``, ``postgres restore``...).

    ``advance``/``advance_bytes`` are increments; ``total``/``total_bytes`` are set when known.
    ``unit`` is what ``advance`` counts: objects, rows, tables, files.
    """

    task: str
    unit: str = "objects"
    advance: int = 0
    advance_bytes: int = 0
    total: int | None = None
    total_bytes: int | None = None
    note: str | None = None


ProgressCallback = Callable[[ProgressUpdate], None]


def silent(_: ProgressUpdate) -> None:
    """The default callback: report nothing."""


class Reporter:
    """A thread-safe wrapper so worker threads can report through one callback."""

    def __init__(self, callback: ProgressCallback | None, task: str, unit: str = "objects") -> None:
        self._callback = callback or silent
        self._lock = threading.Lock()
        self.task = task
        self.unit = unit

    def start(self, total: int | None = None, total_bytes: int | None = None, note: str | None = None) -> None:
        self._emit(ProgressUpdate(self.task, self.unit, total=total, total_bytes=total_bytes, note=note))

    def advance(self, count: int = 1, nbytes: int = 0) -> None:
        self._emit(ProgressUpdate(self.task, self.unit, advance=count, advance_bytes=nbytes))

    def note(self, text: str) -> None:
        self._emit(ProgressUpdate(self.task, self.unit, note=text))

    def _emit(self, update: ProgressUpdate) -> None:
        with self._lock:
            self._callback(update)
