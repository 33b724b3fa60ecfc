"""Backups to an ``s3://BUCKET/PREFIX`` location hold keys that no longer fit once the prefix is
added: the sandbox's real S3 server (versitygw, objects as files) holds the backup.

The source is "AWS" (moto, the AWS emulator): only there can an app have a 1,024-byte key with
a single 1,019-byte segment. The restore goes to another moto bucket for the same reason. A key
of ~1,000 bytes in short segments (legal on versitygw itself) overflows the limit only under
the backup's prefix; an app key in migrate's own namespace must stay the app's.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tests.conftest import run_cli
from tests.data.conftest import KEYS, Pair, Servers, Side
from tests.moto_aws import MotoAws

LONG = "long/" + "ü" * 509 + "x"  # 1,024 bytes, one 1,019-byte segment
NEAR = "deep/" + "/".join(["é" * 120] * 4)  # 968 bytes in 240-byte segments: fits alone, not under a prefix
TRICK = ".migrate-hashed/" + "0" * 64  # an app key shaped like migrate's own
APP_KEYS = [LONG, NEAR, TRICK, TRICK + ".key", "short.txt"]


def _aws_side(side: Side, aws: MotoAws) -> Side:
    moved = Side(side.name, side.pg, aws, side.database, side.bucket + "-aws", None, "aws")
    moved.s3().create_bucket(Bucket=moved.bucket)
    return moved


def _backup_env(pair: Pair, servers: Servers) -> dict[str, str]:
    return pair.env(
        MIGRATE_BACKUP_KEY="k3y-" + "q" * 40,
        MIGRATE_BACKUP_S3_ENDPOINT=servers.s3_b.endpoint,
        MIGRATE_BACKUP_S3_ACCESS_KEY=KEYS[0],
        MIGRATE_BACKUP_S3_SECRET_KEY=KEYS[1],
    )


def test_long_keys_under_an_s3_prefix_are_hashed_and_restored(
    pair: Pair, servers: Servers, aws: MotoAws, tmp_path: Path
) -> None:
    assert len(LONG.encode()) == 1024 and 900 < len(NEAR.encode()) < 1000
    pair = Pair(_aws_side(pair.a, aws), _aws_side(pair.b, aws), pair.work)
    bodies = {key: f"body of {key[:20]} {index}".encode() for index, key in enumerate(APP_KEYS)}
    for key, body in bodies.items():
        pair.a.s3().put_object(Bucket=pair.a.bucket, Key=key, Body=body, ContentType="text/plain; charset=utf-8")
    backup_bucket = f"offsite-{pair.a.database}"
    Side("offsite", pair.a.pg, servers.s3_b, pair.a.database, backup_bucket).s3().create_bucket(Bucket=backup_bucket)
    location = f"s3://{backup_bucket}/backups/" + "p" * 40
    env = _backup_env(pair, servers)
    a, b = pair.files

    made = run_cli(
        "data", "backup", "--from-outputs", str(a), "--to", location, "--encrypt", "--no-postgres", "--json", env=env
    )
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["ok"]
    offsite = Side("offsite", pair.a.pg, servers.s3_b, pair.a.database, backup_bucket).s3()
    stored = [o["Key"] for o in offsite.list_objects_v2(Bucket=backup_bucket, MaxKeys=1000)["Contents"]]
    assert all(len(k.encode()) <= 1024 and max(len(s.encode()) for s in k.split("/")) <= 255 for k in stored)
    # the short key keeps its name; the long, the near and the app's look-alikes go under their hashes
    assert any(k.endswith("/media/chirp-media/short.txt") for k in stored), stored
    hashed = {k.rsplit("/", 1)[1] for k in stored if "/media/chirp-media/.migrate-hashed/" in k}
    for key in (LONG, NEAR, TRICK, TRICK + ".key"):
        digest = hashlib.sha256(key.encode()).hexdigest()
        assert {digest, digest + ".key"} <= hashed, key

    back = run_cli(
        "data", "restore", "--from", location, "--to-outputs", str(b), "--service", "site-a", "--json", env=env
    )
    assert back.returncode == 0, back.stderr
    assert json.loads(back.stdout)["verify"]["ok"]
    got = pair.b.s3()
    assert {o["Key"] for o in got.list_objects_v2(Bucket=pair.b.bucket)["Contents"]} == set(APP_KEYS)
    for key, body in bodies.items():
        response = got.get_object(Bucket=pair.b.bucket, Key=key)
        assert response["Body"].read() == body, key
        assert response["ContentType"] == "text/plain; charset=utf-8", key


def test_a_prefix_too_long_for_any_key_is_refused_in_one_line(pair: Pair, servers: Servers) -> None:
    pair.a.s3().put_object(Bucket=pair.a.bucket, Key="a.txt", Body=b"a")
    location = f"s3://{pair.b.bucket}/" + "/".join(["x" * 200] * 5)  # 1,004 bytes of prefix
    a, _ = pair.files
    made = run_cli(
        "data", "backup", "--from-outputs", str(a), "--to", location, "--no-postgres", env=_backup_env(pair, servers)
    )
    assert made.returncode != 0
    lines = [line for line in made.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "too long for S3" in lines[0] and "Traceback" not in made.stderr, made.stderr
    assert "Contents" not in pair.b.s3().list_objects_v2(Bucket=pair.b.bucket)  # nothing written
