"""Backups hold objects of any legal S3 key: 1,024 bytes, Unicode, ``..``, ``./``, leading and
doubled ``/``, a key that is also a prefix of others — and restore each, bytes and headers whole.

Real Postgres 15 and the sandbox's S3 servers (tests/data/conftest.py); a directory location.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tests.conftest import run_cli
from tests.data.conftest import Pair

LONG = "long/" + "ü" * 509 + "x"  # 1,024 bytes of UTF-8
KEYS = [LONG, "../escape.txt", "./dot.txt", "/leading.txt", "a//b.txt", "same", "same/child.txt", "Zoë/ε.txt"]


def test_backup_and_restore_of_awkward_keys(pair: Pair, tmp_path: Path) -> None:
    assert len(LONG.encode()) == 1024
    client = pair.a.s3()
    bodies = {}
    for index, key in enumerate(KEYS):
        bodies[key] = f"body {index} of {key}".encode()
        client.put_object(Bucket=pair.a.bucket, Key=key, Body=bodies[key], ContentType="text/plain; charset=utf-8")
    location = tmp_path / "offsite"
    env = pair.env(MIGRATE_BACKUP_KEY="k3y-" + "w" * 40)
    a, b = pair.files
    made = run_cli(
        "data",
        "backup",
        "--from-outputs",
        str(a),
        "--to",
        str(location),
        "--encrypt",
        "--no-postgres",
        "--json",
        env=env,
    )
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["ok"]
    # No file is named after a key: every name is a hash (or its sidecar).
    names = [p.name for p in location.rglob("*") if p.is_file()]
    assert all(len(n.removesuffix(".json")) == 64 for n in names), names

    back = run_cli(
        "data", "restore", "--from", str(location), "--to-outputs", str(b), "--service", "site-a", "--json", env=env
    )
    assert back.returncode == 0, back.stderr
    assert json.loads(back.stdout)["verify"]["ok"]
    got = pair.b.s3()
    listed = {o["Key"] for o in got.list_objects_v2(Bucket=pair.b.bucket)["Contents"]}
    assert listed == set(KEYS)
    for key, body in bodies.items():
        response = got.get_object(Bucket=pair.b.bucket, Key=key)
        assert hashlib.sha256(response["Body"].read()).digest() == hashlib.sha256(body).digest(), key
        assert response["ContentType"] == "text/plain; charset=utf-8", key
