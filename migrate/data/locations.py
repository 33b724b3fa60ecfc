"""Backup locations outside every provider: an S3-compatible bucket or a local directory.

``s3://BUCKET[/PREFIX]`` takes its endpoint and keys from the environment
(``MIGRATE_BACKUP_S3_ENDPOINT``, ``MIGRATE_BACKUP_S3_REGION``, ``MIGRATE_BACKUP_S3_ACCESS_KEY``,
``MIGRATE_BACKUP_S3_SECRET_KEY``), so no secret is ever typed on a command line. Anything
else is a directory path.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from migrate.data.crypto import BackupKey, EncryptedStore
from migrate.data.keyed_dir import KeyedDirStore
from migrate.data.long_keys import HashedLongKeys
from migrate.data.stores import ObjectStore, S3Store


@dataclass(frozen=True)
class Location:
    text: str
    bucket: str | None = None
    prefix: str = ""
    directory: Path | None = None

    @property
    def label(self) -> str:
        return self.text

    def store(self, subpath: str, key: BackupKey | None = None) -> ObjectStore:
        """The store for one part of a backup (``social/2026.../media/app-media``)."""
        store: ObjectStore
        if self.directory is not None:
            store = KeyedDirStore(self.directory, subpath)  # any legal key, whatever its length
        else:
            from pydantic import SecretStr

            from migrate.data.endpoints import S3Endpoint

            access = os.environ.get("MIGRATE_BACKUP_S3_ACCESS_KEY") or os.environ.get("AWS_ACCESS_KEY_ID")
            secret = os.environ.get("MIGRATE_BACKUP_S3_SECRET_KEY") or os.environ.get("AWS_SECRET_ACCESS_KEY")
            endpoint = S3Endpoint(
                os.environ.get("MIGRATE_BACKUP_S3_ENDPOINT") or None,
                os.environ.get("MIGRATE_BACKUP_S3_REGION", "us-east-1"),
                SecretStr(access) if access else None,
                SecretStr(secret) if secret else None,
            )
            assert self.bucket is not None
            # any legal key: one too long for S3 under the prefix lives under its hash (long_keys)
            store = HashedLongKeys(S3Store(endpoint, self.bucket, "/".join(p for p in (self.prefix, subpath) if p)))
        return EncryptedStore(store, key) if key is not None else store


def parse_location(text: str) -> Location:
    if text.startswith("s3://"):
        bucket, _, prefix = text[len("s3://") :].partition("/")
        if not bucket:
            from migrate.errors import InputError

            raise InputError(f"location {text!r}: give s3://BUCKET[/PREFIX]")
        return Location(text, bucket=bucket, prefix=prefix.strip("/"))
    return Location(text, directory=Path(text).expanduser().resolve())
