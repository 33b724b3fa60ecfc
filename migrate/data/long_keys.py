"""A backup prefix on S3 that holds every legal object key, however long.

An app's key may be 1,024 bytes, S3's limit: under a backup's prefix (``PREFIX/service/id/
media/bucket/``) it no longer fits, and a file-backed S3 server (versitygw keeps each key
segment as a file name) refuses any segment past 255 bytes. Such a key is stored under
``.migrate-hashed/<sha256 of the key>`` instead, with a companion object ``….key`` holding the
key itself (written after the data, so a crash in between leaves an unlisted object that the
next run replaces). An app key that itself starts with ``.migrate-hashed/`` is hashed too, so
nothing in that namespace is ever taken for an app's object. Every other key keeps its name:
a backup stays readable by any S3 tool.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from concurrent.futures import Executor
from pathlib import Path

from migrate.data.stores import Fetched, ObjectInfo, ObjectStore, Parts, S3Store
from migrate.errors import InputError, MigrateError

MAX_KEY_BYTES = 1024  # S3's limit on a whole key
MAX_SEGMENT_BYTES = 255  # a file name, where the server keeps objects as files
HASHED = ".migrate-hashed/"
NAME_SUFFIX = ".key"
_HASHED_KEY_BYTES = len(HASHED) + 64 + len(NAME_SUFFIX)


def _encoded(key: str) -> bytes:
    return key.encode("utf-8", "surrogateescape")


class HashedLongKeys(ObjectStore):
    """Wraps an ``S3Store``: keys that would not fit under its prefix live under their hash."""

    server_etags = True

    def __init__(self, inner: S3Store) -> None:
        self.inner = inner
        self.label = inner.label
        self.checks_content_md5 = inner.checks_content_md5
        self._prefix_bytes = len(_encoded(inner.prefix))
        if self._prefix_bytes + _HASHED_KEY_BYTES > MAX_KEY_BYTES:
            raise InputError(
                f"backup location {inner.label}: its prefix is {self._prefix_bytes} bytes, too long for S3's "
                f"{MAX_KEY_BYTES}-byte keys (at most {MAX_KEY_BYTES - _HASHED_KEY_BYTES}); choose a shorter prefix"
            )

    def stored_key(self, key: str) -> str:
        """The key the object has in the bucket (under the prefix)."""
        raw = _encoded(key)
        if (
            key.startswith(HASHED)
            or self._prefix_bytes + len(raw) > MAX_KEY_BYTES
            or any(len(segment) > MAX_SEGMENT_BYTES for segment in raw.split(b"/"))
        ):
            return HASHED + hashlib.sha256(raw).hexdigest()
        return key

    def _named(self, key: str, etag: str) -> str:
        """After the data (stored as ``etag``, which is returned): the companion object that names
        a hashed key (listing reads it)."""
        stored = self.stored_key(key)
        if stored != key:
            raw = _encoded(key)
            self.inner.put(stored + NAME_SUFFIX, raw, sha256=hashlib.sha256(raw).hexdigest())
        return etag

    def check(self, create: bool = False) -> None:
        self.inner.check(create)

    def list(self) -> dict[str, ObjectInfo]:
        return {key: info for page in self.pages() for key, info in page.items()}

    def list_or_create(self, create: bool = False) -> dict[str, ObjectInfo]:
        return {key: info for page in self.pages(create) for key, info in page.items()}

    def pages(self, create: bool = False) -> Iterator[dict[str, ObjectInfo]]:
        """Plain keys page by page as the bucket lists them; the hashed ones, named, at the end."""
        hashed: dict[str, ObjectInfo] = {}
        names: set[str] = set()
        for page in self.inner.pages(create):
            plain = {}
            for key, info in page.items():
                if not key.startswith(HASHED):
                    plain[key] = info
                elif key.endswith(NAME_SUFFIX):
                    names.add(key[: -len(NAME_SUFFIX)])
                else:
                    hashed[key] = info
            yield plain
        named = {}
        for stored in sorted(names & hashed.keys()):
            try:
                key = self.inner.get(stored + NAME_SUFFIX).decode("utf-8", "surrogateescape")
            except MigrateError:  # vanished since the listing: as if it were never there
                continue
            if self.stored_key(key) == stored:  # a companion that does not hash to its object is not ours
                info = hashed[stored]
                named[key] = ObjectInfo(key, info.size, info.etag, info.sha256)
        yield named

    def head(self, key: str) -> ObjectInfo | None:
        info = self.inner.head(self.stored_key(key))
        return None if info is None else ObjectInfo(key, info.size, info.etag, info.sha256)

    def get(self, key: str) -> bytes:
        return self.inner.get(self.stored_key(key))

    def read(self, key: str) -> Fetched:
        return self.inner.read(self.stored_key(key))

    def get_parts(self, key: str, size: int, pool: Executor) -> Fetched:
        return self.inner.get_parts(self.stored_key(key), size, pool)

    def object_meta(self, key: str) -> dict[str, str]:
        return self.inner.object_meta(self.stored_key(key))

    def download_to_file(self, key: str, size: int, path: Path, pool: Executor) -> None:
        self.inner.download_to_file(self.stored_key(key), size, path, pool)

    def put(
        self, key: str, data: bytes, *, sha256: str, meta: dict[str, str] | None = None, md5: bytes | None = None
    ) -> str:
        return self._named(key, self.inner.put(self.stored_key(key), data, sha256=sha256, meta=meta, md5=md5))

    def put_parts(
        self, key: str, parts: Parts, *, sha256: str, pool: Executor, meta: dict[str, str] | None = None
    ) -> str:
        return self._named(key, self.inner.put_parts(self.stored_key(key), parts, sha256=sha256, pool=pool, meta=meta))

    def upload_file(
        self, key: str, path: Path, *, sha256: str, pool: Executor, meta: dict[str, str] | None = None
    ) -> str:
        return self._named(key, self.inner.upload_file(self.stored_key(key), path, sha256=sha256, pool=pool, meta=meta))

    def delete(self, key: str) -> None:
        stored = self.stored_key(key)
        if stored != key:
            self.inner.delete(stored + NAME_SUFFIX)  # first: a crash in between leaves an unlisted object
        self.inner.delete(stored)

    def abort_orphaned_uploads(self) -> int:
        return self.inner.abort_orphaned_uploads()
