"""Where migrate keeps what it owns on this machine: one resolver for ``$MIGRATE_HOME``.

Every part (state, journals, manifests, sandboxes, holding pages) asks here, so the same
setting means the same directory everywhere: ``~`` is expanded, an empty value is the
default, and a relative value is taken against the working directory once, here.
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_HOME = ".migrate"


def migrate_home() -> Path:
    """``$MIGRATE_HOME`` (default ``.migrate`` in the working directory), absolute."""
    return Path(os.environ.get("MIGRATE_HOME") or DEFAULT_HOME).expanduser().resolve()


def resolve_beside(path: str | Path, anchor: Path | None) -> Path:
    """A path the spec names: ``~`` expanded, a relative one taken against the spec's own
    directory (``anchor``), not the working directory the command happens to run in."""
    candidate = Path(path).expanduser()
    if not candidate.is_absolute() and anchor is not None:
        candidate = anchor / candidate
    return candidate.resolve()
