"""Backups hold objects of any legal S3 key: 1,024 bytes, Unicode, ``..``, ``./``, leading and
doubled ``/``, a key that is also a prefix of others — and restore each, bytes and headers whole.

Both ends are "AWS" S3 (moto, the AWS emulator): the sandbox's S3 server keeps objects as
files, so it cannot hold a key that is also a prefix of another, nor a 1,024-byte key whose
path component passes 255 bytes — exactly the keys an app on AWS can have and a backup must
carry. Real Postgres 15 beside them (tests/data/conftest.py); a directory location.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from tests.data.conftest import Pair, Side, backup_media, restore_media
from tests.moto_aws import MotoAws

LONG = "long/" + "ü" * 509 + "x"  # 1,024 bytes of UTF-8
KEYS = [LONG, "../escape.txt", "./dot.txt", "/leading.txt", "a//b.txt", "same", "same/child.txt", "Zoë/ε.txt"]


def _on_aws(pair: Pair, aws: MotoAws) -> Pair:
    sides = []
    for side in (pair.a, pair.b):
        bucket = side.bucket + "-aws"
        Side(side.name, side.pg, aws, side.database, bucket, None, "aws").s3().create_bucket(Bucket=bucket)
        sides.append(Side(side.name, side.pg, aws, side.database, bucket, None, "aws"))
    return Pair(sides[0], sides[1], pair.work)


def test_backup_and_restore_of_awkward_keys(pair: Pair, aws: MotoAws, tmp_path: Path) -> None:
    assert len(LONG.encode()) == 1024
    pair = _on_aws(pair, aws)
    client = pair.a.s3()
    bodies = {}
    for index, key in enumerate(KEYS):
        bodies[key] = f"body {index} of {key}".encode()
        client.put_object(Bucket=pair.a.bucket, Key=key, Body=bodies[key], ContentType="text/plain; charset=utf-8")
    location = tmp_path / "offsite"
    assert backup_media(pair, location)["ok"]
    # No file is named after a key: every name is a hash (or its sidecar).
    names = [p.name for p in location.rglob("*") if p.is_file()]
    assert all(len(n.removesuffix(".json")) == 64 for n in names), names

    restore_media(pair, location)
    got = pair.b.s3()
    listed = {o["Key"] for o in got.list_objects_v2(Bucket=pair.b.bucket)["Contents"]}
    assert listed == set(KEYS)
    for key, body in bodies.items():
        response = got.get_object(Bucket=pair.b.bucket, Key=key)
        assert hashlib.sha256(response["Body"].read()).digest() == hashlib.sha256(body).digest(), key
        assert response["ContentType"] == "text/plain; charset=utf-8", key
