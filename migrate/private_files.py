"""Files that hold secrets (or state nobody else needs to read), created private from the start.

A file written then chmod'ed is readable by anyone in between; these are created 0600 (and
their directories 0700) by ``open`` itself, and replaced atomically so a reader never sees
half of one. The one atomic replace in the project: state files (saved plans, a replication
round's journal) are written through it too, so a crash leaves the old file or the new one.
"""

from __future__ import annotations

import os
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700


def write_private_file(path: Path, data: str | bytes, mode: int = FILE_MODE) -> None:
    """Write ``data`` to ``path`` atomically and durably (the file, then the rename, fsynced);
    the file has ``mode`` from its first byte."""
    payload = data.encode() if isinstance(data, str) else data
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with _suppress_missing():
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)  # the umask may have taken bits away from what was asked for
        os.replace(tmp, path)
    except BaseException:
        with _suppress_missing():
            tmp.unlink()
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # the rename itself survives a crash
    finally:
        os.close(directory)


def make_private_dir(path: Path, mode: int = DIR_MODE) -> Path:
    """Create ``path`` (and missing parents) with ``mode``; an existing directory is left as it is."""
    if not path.is_dir():
        path.mkdir(parents=True, exist_ok=True, mode=mode)
    return path


class _suppress_missing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, value: object, traceback: object) -> bool:
        return isinstance(value, FileNotFoundError)
