"""Read a file the user names without hanging, exhausting memory or echoing it.

Every path migrate reads on the user's say-so (a spec, a ``{file:}`` secret, an outputs
file, a backup manifest) comes through ``read_input_file``: it must be a regular file
(a FIFO, a device such as /dev/zero or a directory is refused before any read, so nothing
blocks) no bigger than the cap the caller names. Errors are one line naming the path
(escaped) and the limit, never the contents.
"""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path
from typing import Any

from migrate.errors import InputError

KIB = 1024
MIB = 1024 * 1024
SPEC_LIMIT = 2 * MIB
SECRET_LIMIT = 16 * KIB
OUTPUTS_LIMIT = 16 * MIB
MANIFEST_LIMIT = 64 * MIB

_CONTROL = {i: f"\\x{i:02x}" for i in [*range(0x20), 0x7F, *range(0x80, 0xA0)]}
_CONTROL.update({ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"})
# Unicode's own line and paragraph separators and bidi overrides reorder or split a line too.
_CONTROL.update({c: f"\\u{c:04x}" for c in (0x2028, 0x2029, *range(0x202A, 0x202F), *range(0x2066, 0x206A))})


_HAS_CONTROL = re.compile("[" + "".join(re.escape(chr(c)) for c in _CONTROL) + "]")


def escape_controls(text: str) -> str:
    """``text`` with every control character shown as an escape: safe for a terminal or a log line."""
    return text.translate(_CONTROL) if _HAS_CONTROL.search(text) else text


def shown(text: Any, limit: int = 60) -> str:
    """A name from the input, escaped and truncated, for an error message."""
    value = escape_controls(str(text))
    return value if len(value) <= limit else value[: limit - 1] + "…"


def describe_size(limit: int) -> str:
    if limit >= MIB and limit % MIB == 0:
        return f"{limit // MIB} MiB"
    if limit >= KIB and limit % KIB == 0:
        return f"{limit // KIB} KiB"
    return f"{limit} bytes"


def read_input_file(path: str | Path, limit: int, what: str = "file") -> bytes:
    """The bytes of ``path``, which must be a regular file of at most ``limit`` bytes."""
    name = shown(path, 200)
    try:
        # O_NONBLOCK: opening a FIFO with no writer must not block; a regular file ignores it.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        raise InputError(f"{name}: no such {what}") from None
    except IsADirectoryError:
        raise InputError(f"{name}: {what} is a directory, not a regular file") from None
    except OSError as exc:
        try:  # a socket cannot be opened at all (ENXIO): say what it is
            mode = os.stat(path).st_mode
        except OSError:
            mode = 0
        if mode and not stat.S_ISREG(mode):
            raise InputError(f"{name}: {what} is {_kind(mode)}, not a regular file") from None
        raise InputError(f"{name}: cannot read {what}: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise InputError(f"{name}: {what} is {_kind(info.st_mode)}, not a regular file")
        if info.st_size > limit:
            raise InputError(f"{name}: {what} is larger than the {describe_size(limit)} limit")
        chunks: list[bytes] = []
        total = 0
        while True:  # read to EOF but never past the cap: the file may grow while we read
            chunk = os.read(fd, min(1 * MIB, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                raise InputError(f"{name}: {what} is larger than the {describe_size(limit)} limit")
        return b"".join(chunks)
    except OSError as exc:
        raise InputError(f"{name}: cannot read {what}: {exc.strerror}") from None
    finally:
        os.close(fd)


def read_input_text(path: str | Path, limit: int, what: str = "file") -> str:
    """``read_input_file`` decoded as UTF-8; a bad byte is reported by line, not echoed."""
    data = read_input_file(path, limit, what)
    return decode_utf8(data, shown(path, 200), what)


def decode_utf8(data: bytes, name: str, what: str = "file") -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError(f"{name}:1: {what} is UTF-16 (it starts with a UTF-16 byte-order mark); save it as UTF-8")
    data = data.removeprefix(b"\xef\xbb\xbf")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputError(f"{name}:{line}: {what} is not valid UTF-8 (byte 0x{data[exc.start]:02x})") from None


def read_input_json(path: str | Path, limit: int = OUTPUTS_LIMIT, what: str = "JSON file") -> Any:
    """A JSON document from ``path`` (capped, regular file only); a syntax error names its line."""
    text = read_input_text(path, limit, what)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{shown(path, 200)}:{exc.lineno}: {what} is not valid JSON: {exc.msg}") from None
    except RecursionError:
        raise InputError(f"{shown(path, 200)}: {what} is nested too deeply") from None


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISDIR(mode):
        return "a directory"
    return "not a regular file"
