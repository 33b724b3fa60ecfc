"""One durable log under every journal: append-only JSON lines that survive any kill.

Each append is one ``write`` of whole lines followed by ``fsync`` before it returns, so what
the caller goes on to do is never ahead of the disk. A writer killed mid-line leaves a torn
tail: reading skips it, and the next writer ends it with a newline first so its own record
stays whole. Every line passes through ``redact`` (secret values never reach the disk); the
file is created 0600 and its directory 0700. ``lock`` gives one process the log at a time.

The run journal (runbook), the DNS swing journal and the registrar journal are thin uses of
this; they differ only in the records they write and how they replay them.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from pathlib import Path
from typing import IO, Any

from pydantic import SecretStr

from migrate.errors import MigrateError
from migrate.redact import MASK, redact


def _default(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return MASK
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


def dumps(record: Any) -> str:
    """One compact JSON line, secrets masked: SecretStr fields and every registered secret."""
    return redact(json.dumps(record, default=_default, separators=(",", ":")))


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class DurableLog:
    """An append-only, fsync'd JSON-lines file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._lock: IO[str] | None = None

    # -- writing -------------------------------------------------------------------------------
    def append(self, *records: dict[str, Any]) -> list[dict[str, Any]]:
        """Write the records with one write and one fsync; returns them as stored (redacted)."""
        lines = [dumps(record) for record in records]
        pending = "".join(line + "\n" for line in lines).encode()
        fd = self._open()
        while pending:
            pending = pending[os.write(fd, pending) :]
        os.fsync(fd)
        return [json.loads(line) for line in lines]

    def _open(self) -> int:
        if self._fd is None:
            created = not self.path.exists()
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            if created:
                _fsync_dir(self.path.parent)
            else:
                self._end_torn_tail()
        return self._fd

    def _end_torn_tail(self) -> None:
        """A writer killed mid-write leaves half a line; end it so the next record stays whole."""
        with open(self.path, "rb") as handle:
            if handle.seek(0, os.SEEK_END) == 0:
                return
            handle.seek(-1, os.SEEK_END)
            torn = handle.read(1) != b"\n"
        if torn and self._fd is not None:
            os.write(self._fd, b"\n")
            os.fsync(self._fd)

    def lock(self, what: str) -> None:
        """One process at a time (``what`` names it in the refusal): a lock file beside the log,
        held until ``close`` or the process ends, however it ends."""
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        handle = open(self.path.with_suffix(".lock"), "a+")  # noqa: SIM115 - held while the log is used
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise MigrateError(f"{what} is being run by another process right now") from None
        self._lock = handle

    def close(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
        if self._lock is not None:
            with contextlib.suppress(OSError):
                self._lock.close()
        self._fd, self._lock = None, None

    # -- reading -------------------------------------------------------------------------------
    def records(self) -> list[dict[str, Any]]:
        """Every whole record, oldest first; a torn line (a killed writer) is skipped."""
        try:
            text = self.path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise MigrateError(f"cannot read journal {self.path}: {exc.strerror}") from None
        out = []
        for line in text.splitlines():
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict):
                out.append(record)
        return out
