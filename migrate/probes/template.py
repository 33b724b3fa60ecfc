"""Render the probes' templates and take values out of JSON responses.

A small fixed grammar, not a templating engine: ``{name}`` placeholders and, in headers only,
``{env:NAME}``/``{file:PATH}`` secrets. A string that is exactly one placeholder takes the
value's own type (``{seq}`` in a JSON body stays a number).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from migrate.errors import InputError
from migrate.redact import register_secret
from migrate.spec.probes import PLACEHOLDER

_PATH_PART = re.compile(r"\.([A-Za-z_][A-Za-z0-9_-]*)|\[(\d+)\]")


def _secret(source: str, arg: str) -> str:
    if source == "env":
        value = os.environ.get(arg)
        if value is None:
            raise InputError(f"probe header: environment variable {arg} is not set")
    else:
        try:
            value = Path(arg).expanduser().read_text().strip()
        except OSError as exc:
            raise InputError(f"probe header: cannot read {arg}: {exc.strerror}") from None
    register_secret(value)
    return value


def render_string(template: str, values: dict[str, Any], *, secrets: bool = False) -> Any:
    """``template`` with its placeholders filled from ``values``; unknown names are input errors."""

    def one(match: re.Match[str]) -> Any:
        name, arg = match.group("name"), match.group("arg")
        if arg is not None:
            if not secrets or name not in ("env", "file"):
                raise InputError(f"probe template {template!r}: {{{name}:…}} is allowed in headers only")
            return _secret(name, arg)
        if name not in values:
            known = ", ".join(sorted(values)) or "none"
            raise InputError(f"probe template {template!r}: no value {{{name}}} (known: {known})")
        return values[name]

    whole = PLACEHOLDER.fullmatch(template)
    if whole:
        return one(whole)
    escaped = template.replace("{{", "\0").replace("}}", "\1")
    rendered = PLACEHOLDER.sub(lambda m: str(one(m)), escaped)
    return rendered.replace("\0", "{").replace("\1", "}")


def render(value: Any, values: dict[str, Any]) -> Any:
    """Render every string of a nested JSON-like value."""
    if isinstance(value, str):
        return render_string(value, values)
    if isinstance(value, dict):
        return {k: render(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, values) for v in value]
    return value


def json_path(document: Any, path: str) -> Any:
    """The value at ``$.a.b[0]`` in ``document``; KeyError naming the path when absent."""
    value = document
    for key, index in _PATH_PART.findall(path[1:]):
        try:
            value = value[int(index)] if index else value[key]
        except (KeyError, IndexError, TypeError):
            raise KeyError(path) from None
    return value
