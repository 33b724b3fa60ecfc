"""A backup directory that holds objects of any legal S3 key.

An S3 key is up to 1,024 bytes of any Unicode, may hold ``..``, ``./``, leading or doubled
``/``, and may be both an object and the prefix of others (``a`` and ``a/b``): none of that maps
onto file names one to one (255-byte names, no file that is also a directory, ``..`` escaping
the tree). So each object lives under the sha256 of its full key (``objects/ab/ab12…``), with a
sidecar JSON beside it naming the key, its size, ETag and sha256, and the app's headers and
metadata kept apart from migrate's own fields (an app's ``sha256`` metadata cannot collide).
The data file is renamed into place before its sidecar: a crash in between leaves an unlisted
file that the next run replaces.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from migrate.data.stores import OWN_META, DirStore, ObjectInfo
from migrate.errors import InputError

OBJECTS = "objects"


class KeyedDirStore(DirStore):
    """Objects under ``base/objects``, named by the sha256 of ``prefix/key``; ``prefix`` scopes a view."""

    def __init__(self, base: Path, prefix: str = "") -> None:
        super().__init__(base / OBJECTS)
        self.base = base
        self.prefix = prefix.strip("/")
        self.label = str(base / self.prefix) if self.prefix else str(base)

    def _full(self, key: str) -> str:
        if not key:
            raise InputError(f"an empty object key cannot be stored under {self.label}")
        return f"{self.prefix}/{key}" if self.prefix else key

    def _path(self, key: str) -> Path:
        digest = hashlib.sha256(self._full(key).encode("utf-8", "surrogateescape")).hexdigest()
        return self.root / digest[:2] / digest

    def _meta_path(self, key: str) -> Path:
        path = self._path(key)
        return path.with_name(path.name + ".json")

    def _sidecar(self, key: str) -> dict[str, Any]:
        try:
            loaded: dict[str, Any] = json.loads(self._meta_path(key).read_text())
        except (OSError, ValueError):
            return {}
        return loaded if loaded.get("key") == self._full(key) else {}

    def _read_meta(self, key: str) -> dict[str, Any]:
        """Flat, as DirStore reads it: the stored headers and metadata, then migrate's own fields."""
        stored = self._sidecar(key)
        if not stored:
            return {}
        return {**stored.get("meta", {}), "size": stored["size"], "etag": stored["etag"], "sha256": stored["sha256"]}

    def object_meta(self, key: str) -> dict[str, str]:
        stored = self._sidecar(key).get("meta", {})
        return {str(k): str(v) for k, v in stored.items() if k not in OWN_META}

    def list(self) -> dict[str, ObjectInfo]:
        found: dict[str, ObjectInfo] = {}
        if not self.root.is_dir():
            return found
        start = f"{self.prefix}/" if self.prefix else ""
        for directory, _, files in os.walk(self.root):
            for name in files:
                if not name.endswith(".json") or name.startswith(".migrate-tmp-"):
                    continue
                try:
                    stored = json.loads((Path(directory) / name).read_text())
                    size = (Path(directory) / name[: -len(".json")]).stat().st_size
                except (OSError, ValueError):
                    continue
                full = str(stored.get("key", ""))
                if not full.startswith(start) or stored.get("size") != size:
                    continue
                found[full[len(start) :]] = ObjectInfo(full[len(start) :], size, str(stored.get("etag", "")))
        return found

    def _commit(self, key: str, tmp: Path, etag: str, sha256: str, meta: dict[str, str] | None) -> str:
        path = self._path(key)
        size = tmp.stat().st_size
        os.replace(tmp, path)
        meta_path = self._meta_path(key)
        tmp_meta = meta_path.with_name(".migrate-tmp-" + meta_path.name)
        document = {"key": self._full(key), "size": size, "etag": etag, "sha256": sha256, "meta": meta or {}}
        tmp_meta.write_text(json.dumps(document, ensure_ascii=False))
        os.replace(tmp_meta, meta_path)
        return etag
