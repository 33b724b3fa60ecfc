"""What a replication round changed, on disk, so that stop/promote (or a later round) undoes it.

One JSON file per subscription under ``$MIGRATE_HOME/data/replication/``, replaced atomically
(written, fsynced, renamed) after every change: replica identities set at both sides, the
source's synchronous setting, the latest sequence values read at the source (what a promotion
with the source dead starts from), the apply-error count last seen, and — after a promotion
with the source dead — what is still to be undone at the source when it is seen again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from migrate.data.identity import Change
from migrate.data.manifest import data_dir
from migrate.private_files import write_private_file


def _directory() -> Path:
    path = data_dir() / "replication"
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass
class RoundJournal:
    subscription: str
    source_target: str
    dest_target: str
    identity: list[Change] = field(default_factory=list)
    synchronous: bool = False
    sequences: dict[str, int] = field(default_factory=dict)
    apply_errors: int = 0
    # Left at a source that was unreachable at promotion: undone when it is next reached.
    pending_at_source: bool = False
    finished: bool = False

    @property
    def path(self) -> Path:
        return _directory() / f"{self.subscription}.json"

    def save(self) -> None:
        document: dict[str, Any] = {
            **{k: v for k, v in self.__dict__.items() if k != "identity"},
            "identity": [change.to_json() for change in self.identity],
        }
        write_private_file(self.path, json.dumps(document, indent=1, sort_keys=True))


def load(subscription: str, source_target: str, dest_target: str) -> RoundJournal:
    """This round's journal, or a fresh one."""
    path = _directory() / f"{subscription}.json"
    if not path.exists():
        return RoundJournal(subscription, source_target, dest_target)
    return _parse(json.loads(path.read_text()))


def _parse(document: dict[str, Any]) -> RoundJournal:
    identity = [Change(**item) for item in document.pop("identity", [])]
    known = set(RoundJournal.__dataclass_fields__)
    return RoundJournal(**{k: v for k, v in document.items() if k in known}, identity=identity)


def pending_at(target: str) -> list[RoundJournal]:
    """Rounds whose source was ``target`` and left changes there that are not yet undone."""
    found = []
    for path in sorted(_directory().glob("*.json")):
        try:
            journal = _parse(json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            continue
        if journal.pending_at_source and journal.source_target == target:
            found.append(journal)
    return found
