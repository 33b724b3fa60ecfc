"""Encryption of backups at rest: AES-256-GCM in 1 MiB chunks, key from the environment.

Format: ``MGE1`` + 8-byte random nonce prefix, then chunks of up to 1 MiB plaintext, each
sealed with nonce = prefix + 4-byte counter and the final chunk marked in its associated
data, so reordering, truncation or a flipped bit fails decryption. The key is never printed:
backups record only a key id (an HMAC of a fixed label), to name a wrong key clearly.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import tempfile
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

from migrate.data.stores import ObjectInfo, ObjectStore
from migrate.errors import InputError, MigrateError
from migrate.redact import register_secret

KEY_ENV = "MIGRATE_BACKUP_KEY"
MAGIC = b"MGE1"
CHUNK = 1024 * 1024
TAG = 16
HEADER = len(MAGIC) + 8


class BackupKey:
    """The AES key derived (HKDF-SHA256) from the secret in ``MIGRATE_BACKUP_KEY``.

    Give a random secret (``openssl rand -base64 32``): a short passphrase is weak here.
    """

    def __init__(self, secret: str) -> None:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.kdf.hkdf import HKDF

        if len(secret) < 16:
            raise InputError(f"{KEY_ENV} is too short: give at least 16 characters (openssl rand -base64 32)")
        register_secret(secret)
        self._key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"migrate-backup-v1", info=b"aes-256-gcm").derive(
            secret.encode()
        )

    @classmethod
    def from_env(cls, required: bool = False) -> BackupKey | None:
        secret = os.environ.get(KEY_ENV)
        if not secret:
            if required:
                raise InputError(f"this backup is encrypted: set {KEY_ENV} to its key")
            return None
        return cls(secret)

    @property
    def key_id(self) -> str:
        """Names the key without revealing it."""
        return hmac.new(self._key, b"migrate key id", hashlib.sha256).hexdigest()[:16]

    def _aead(self) -> Any:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        return AESGCM(self._key)

    def encrypt(self, data: bytes) -> bytes:
        aead = self._aead()
        prefix = os.urandom(8)
        out = [MAGIC, prefix]
        count = max(1, -(-len(data) // CHUNK))
        for index in range(count):
            chunk = data[index * CHUNK : (index + 1) * CHUNK]
            out.append(aead.encrypt(_nonce(prefix, index), chunk, _aad(index, index == count - 1)))
        return b"".join(out)

    def decrypt(self, blob: bytes, what: str = "object") -> bytes:
        from cryptography.exceptions import InvalidTag

        if blob[: len(MAGIC)] != MAGIC:
            raise MigrateError(f"{what} is not a migrate-encrypted object")
        aead = self._aead()
        prefix = blob[len(MAGIC) : HEADER]
        body = blob[HEADER:]
        step = CHUNK + TAG
        count = max(1, -(-len(body) // step))
        out = []
        try:
            for index in range(count):
                sealed = body[index * step : (index + 1) * step]
                out.append(aead.decrypt(_nonce(prefix, index), sealed, _aad(index, index == count - 1)))
        except InvalidTag:
            raise MigrateError(f"{what}: decryption failed (wrong {KEY_ENV}, or the data was altered)") from None
        return b"".join(out)

    def encrypt_file(self, source: Path, dest: Path) -> None:
        aead = self._aead()
        size = source.stat().st_size
        count = max(1, -(-size // CHUNK))
        prefix = os.urandom(8)
        with source.open("rb") as reader, dest.open("wb") as writer:
            writer.write(MAGIC + prefix)
            for index in range(count):
                writer.write(aead.encrypt(_nonce(prefix, index), reader.read(CHUNK), _aad(index, index == count - 1)))

    def decrypt_file(self, source: Path, dest: Path, what: str = "object") -> None:
        from cryptography.exceptions import InvalidTag

        aead = self._aead()
        size = source.stat().st_size - HEADER
        step = CHUNK + TAG
        count = max(1, -(-size // step))
        with source.open("rb") as reader, dest.open("wb") as writer:
            if reader.read(len(MAGIC)) != MAGIC:
                raise MigrateError(f"{what} is not a migrate-encrypted object")
            prefix = reader.read(8)
            try:
                for index in range(count):
                    writer.write(
                        aead.decrypt(_nonce(prefix, index), reader.read(step), _aad(index, index == count - 1))
                    )
            except InvalidTag:
                raise MigrateError(f"{what}: decryption failed (wrong {KEY_ENV}, or the data was altered)") from None


def _nonce(prefix: bytes, index: int) -> bytes:
    return prefix + index.to_bytes(4, "big")


def _aad(index: int, final: bool) -> bytes:
    return MAGIC + index.to_bytes(4, "big") + (b"\x01" if final else b"\x00")


class EncryptedStore(ObjectStore):
    """Wraps a store: writes ciphertext, reads plaintext; metadata keeps the plaintext sha256/size."""

    encrypted = True

    def __init__(self, inner: ObjectStore, key: BackupKey) -> None:
        self.inner = inner
        self.key = key
        self.label = f"{inner.label} (encrypted)"

    def check(self, create: bool = False) -> None:
        self.inner.check(create)

    def list(self) -> dict[str, ObjectInfo]:
        # Ciphertext ETags and sizes: never comparable with plaintext ones, hence the prefix.
        return {k: ObjectInfo(k, v.size, "enc:" + v.etag) for k, v in self.inner.list().items()}

    def head(self, key: str) -> ObjectInfo | None:
        info = self.inner.head(key)
        return None if info is None else ObjectInfo(key, info.size, "enc:" + info.etag, info.sha256)

    def get(self, key: str) -> bytes:
        return self.key.decrypt(self.inner.get(key), what=key)

    def object_meta(self, key: str) -> dict[str, str]:
        return self.inner.object_meta(key)

    def put(
        self, key: str, data: bytes, *, sha256: str, meta: dict[str, str] | None = None, md5: bytes | None = None
    ) -> str:
        sealed = self.key.encrypt(data)
        meta = {**(meta or {}), "plain-size": str(len(data))}
        return "enc:" + self.inner.put(key, sealed, sha256=sha256, meta=meta)

    def download_to_file(self, key: str, size: int, path: Path, pool: Executor) -> None:
        # ``size`` is the stored (sealed) size, as the listing gave it.
        with tempfile.TemporaryDirectory(dir=path.parent) as scratch:
            sealed = Path(scratch) / "sealed"
            self.inner.download_to_file(key, size, sealed, pool)
            self.key.decrypt_file(sealed, path, what=key)

    def upload_file(
        self, key: str, path: Path, *, sha256: str, pool: Executor, meta: dict[str, str] | None = None
    ) -> str:
        meta = {**(meta or {}), "plain-size": str(path.stat().st_size)}
        with tempfile.TemporaryDirectory(dir=path.parent) as scratch:
            sealed = Path(scratch) / "sealed"
            self.key.encrypt_file(path, sealed)
            return "enc:" + self.inner.upload_file(key, sealed, sha256=sha256, pool=pool, meta=meta)

    def delete(self, key: str) -> None:
        self.inner.delete(key)

    def abort_orphaned_uploads(self) -> int:
        return self.inner.abort_orphaned_uploads()
