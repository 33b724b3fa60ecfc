"""Objects arrive whole, and verify reads B's bytes rather than trusting B's metadata.

The sandbox's S3 servers (tests/data/conftest.py).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path
from typing import Any

from tests.conftest import run_cli
from tests.data.conftest import Pair, backup_media, restore_media

HEADERS = {
    "ContentType": "image/webp",
    "ContentEncoding": "identity",
    "ContentLanguage": "fr-CA",
    "CacheControl": "public, max-age=31536000, immutable",
    "ContentDisposition": 'attachment; filename="photo.webp"',
    "Expires": "Wed, 21 Oct 2026 07:28:00 GMT",
}


def test_headers_and_the_apps_own_sha256_metadata_are_carried(pair: Pair) -> None:
    body = os.urandom(40_000)
    # Also user-metadata keys spelt like a header, or like the metadata prefix: the app's own.
    meta = {
        "sha256": "the-apps-own-value",
        "uploaded-by": "user42",
        "content-type": "the-apps-own-type",
        "x-amz-meta-odd": "kept as written",
    }
    pair.a.s3().put_object(Bucket=pair.a.bucket, Key="img/a.webp", Body=body, Metadata=meta, **HEADERS)
    done = run_cli("data", "sync", *pair.cli_args(), "--no-postgres", "--json", env=pair.env())
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["verify"]["ok"]
    head = pair.b.s3().head_object(Bucket=pair.b.bucket, Key="img/a.webp")
    for name, value in HEADERS.items():
        got = head.get("ExpiresString", head.get("Expires")) if name == "Expires" else head.get(name)
        assert got == value, (name, got)
    assert head["Metadata"]["sha256"] == "the-apps-own-value"  # the app's, not migrate's
    assert head["Metadata"]["uploaded-by"] == "user42"
    assert head["Metadata"]["content-type"] == "the-apps-own-type"  # not the header's value
    assert head["Metadata"]["x-amz-meta-odd"] == "kept as written"
    assert head["Metadata"]["migrate-sha256"] == hashlib.sha256(body).hexdigest()


def test_verify_reads_bs_bytes_not_its_checksum_metadata(pair: Pair) -> None:
    body = os.urandom(10 * 1024 * 1024)
    pair.a.s3().put_object(Bucket=pair.a.bucket, Key="video/clip.bin", Body=body)
    assert run_cli("data", "sync", *pair.cli_args(), "--no-postgres", env=pair.env()).returncode == 0
    # Replaced at B by an object of the same size in two parts, migrate's checksum metadata kept.
    kept = pair.b.s3().head_object(Bucket=pair.b.bucket, Key="video/clip.bin")["Metadata"]
    from boto3.s3.transfer import TransferConfig

    other = os.urandom(len(body))
    pair.b.s3().upload_fileobj(
        io.BytesIO(other),
        pair.b.bucket,
        "video/clip.bin",
        ExtraArgs={"Metadata": kept},
        Config=TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024),
    )
    assert pair.b.s3().head_object(Bucket=pair.b.bucket, Key="video/clip.bin")["Metadata"] == kept
    verify = run_cli("data", "verify", *pair.cli_args(), "--no-postgres", "--json", env=pair.env())
    assert verify.returncode == 1, verify.stdout
    found = json.loads(verify.stdout)["mismatches"]
    assert [(m["item"], m["kind"]) for m in found] == [("video/clip.bin", "checksum")]


TAGS = {"visibility": "public", "owner id": "user 42/ä", "empty": "", "a+b=c": "x:y@z_-."}


def _app_object(side_s3: object, bucket: str, key: str, body: bytes, **extra: str) -> None:
    from urllib.parse import urlencode

    side_s3.put_object(  # type: ignore[attr-defined]
        Bucket=bucket,
        Key=key,
        Body=body,
        Metadata={"sha256": "the-apps-own-value", "uploaded-by": "user42"},
        Tagging=urlencode(TAGS),
        **{**HEADERS, **extra},
    )


def _tags(client: object, bucket: str, key: str) -> dict[str, str]:
    got = client.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]  # type: ignore[attr-defined]
    return {t["Key"]: t["Value"] for t in got}


def _assert_whole(pair: Pair, key: str, body: bytes) -> None:
    """What the app sees on B: bytes, every header, its own metadata, its tags."""
    b = pair.b.s3()
    got = b.get_object(Bucket=pair.b.bucket, Key=key)
    assert hashlib.sha256(got["Body"].read()).digest() == hashlib.sha256(body).digest(), key
    for name, value in HEADERS.items():
        shown = got.get("ExpiresString", got.get("Expires")) if name == "Expires" else got.get(name)
        assert shown == value, (key, name, shown)
    assert got["Metadata"]["sha256"] == "the-apps-own-value" and got["Metadata"]["uploaded-by"] == "user42"
    assert _tags(b, pair.b.bucket, key) == TAGS, key


def test_tags_are_carried_by_sync_including_multipart_uploads(pair: Pair, monkeypatch: object) -> None:
    """A single PUT and a multipart upload (threshold lowered in-process) both keep the tags."""
    from migrate.data import media, stores
    from migrate.data.endpoints import S3Endpoint

    monkeypatch.setattr(stores, "MULTIPART_THRESHOLD", 6 * 1024 * 1024)  # type: ignore[attr-defined]
    monkeypatch.setenv("MIGRATE_HOME", str(pair.work / "home"))  # type: ignore[attr-defined]
    small, large = os.urandom(30_000), os.urandom(20 * 1024 * 1024)
    _app_object(pair.a.s3(), pair.a.bucket, "img/small.webp", small)
    _app_object(pair.a.s3(), pair.a.bucket, "video/large.webp", large)
    pair.a.s3().put_object(Bucket=pair.a.bucket, Key="plain.txt", Body=b"no tags")

    def store(side: object) -> stores.S3Store:
        from pydantic import SecretStr

        from tests.data.conftest import KEYS

        endpoint = S3Endpoint(url=side.s3_server.endpoint, access_key=SecretStr(KEYS[0]), secret_key=SecretStr(KEYS[1]))  # type: ignore[attr-defined]
        return stores.S3Store(endpoint, side.bucket)  # type: ignore[attr-defined]

    copied, report = media.sync_verified(store(pair.a), store(pair.b), area="media", task="media")
    assert copied.copied == 3 and report.ok, report.mismatches
    _assert_whole(pair, "img/small.webp", small)
    _assert_whole(pair, "video/large.webp", large)
    b = pair.b.s3()
    assert b.head_object(Bucket=pair.b.bucket, Key="video/large.webp")["ETag"].strip('"').endswith("-3")
    assert _tags(b, pair.b.bucket, "plain.txt") == {}


def _rewrite_in_place(client: Any, bucket: str, key: str, metadata: dict[str, str], **headers: str) -> None:
    """Copy an object onto itself with new metadata and headers, its bytes and tags kept."""
    client.copy_object(
        Bucket=bucket,
        Key=key,
        CopySource={"Bucket": bucket, "Key": key},
        MetadataDirective="REPLACE",
        TaggingDirective="COPY",
        Metadata=metadata,
        **headers,
    )


def test_verify_names_every_difference_in_bytes_headers_metadata_and_tags(pair: Pair) -> None:
    keys = ["tags.webp", "type.webp", "meta.webp", "bytes.webp", "dir/ünï key %41?.webp", "same.webp"]
    bodies = {key: os.urandom(5_000) for key in keys}
    for key, body in bodies.items():
        _app_object(pair.a.s3(), pair.a.bucket, key, body)
    synced = run_cli("data", "sync", *pair.cli_args(), "--no-postgres", "--json", env=pair.env())
    assert synced.returncode == 0, synced.stderr
    for key, body in bodies.items():
        _assert_whole(pair, key, body)
    clean = run_cli("data", "verify", *pair.cli_args(), "--no-postgres", env=pair.env())
    assert clean.returncode == 0, clean.stdout + clean.stderr

    b, bucket = pair.b.s3(), pair.b.bucket
    b.put_object_tagging(
        Bucket=bucket, Key="tags.webp", Tagging={"TagSet": [{"Key": "visibility", "Value": "private"}]}
    )
    kept = b.head_object(Bucket=bucket, Key="type.webp")
    _rewrite_in_place(b, bucket, "type.webp", kept["Metadata"], **{**HEADERS, "ContentType": "text/html"})
    meta = b.head_object(Bucket=bucket, Key="meta.webp")["Metadata"]
    _rewrite_in_place(b, bucket, "meta.webp", {**meta, "uploaded-by": "mallory"}, **HEADERS)
    # Same size, every header, metadata (migrate's checksum included) and tag kept: only the bytes differ.
    from urllib.parse import urlencode

    kept = b.head_object(Bucket=bucket, Key="bytes.webp")
    b.put_object(
        Bucket=bucket,
        Key="bytes.webp",
        Body=os.urandom(5_000),
        Metadata=kept["Metadata"],
        Tagging=urlencode(TAGS),
        **HEADERS,
    )
    b.delete_object_tagging(Bucket=bucket, Key="dir/ünï key %41?.webp")

    verify = run_cli("data", "verify", *pair.cli_args(), "--no-postgres", "--json", env=pair.env())
    assert verify.returncode == 1, verify.stdout + verify.stderr
    found = {(m["item"], m["kind"]) for m in json.loads(verify.stdout)["mismatches"]}
    assert found == {
        ("tags.webp", "tag visibility"),
        ("tags.webp", "tag owner id"),
        ("tags.webp", "tag empty"),
        ("tags.webp", "tag a+b=c"),
        ("type.webp", "header content-type"),
        ("meta.webp", "metadata x-amz-meta-uploaded-by"),
        ("bytes.webp", "checksum"),
        *{("dir/ünï key %41?.webp", f"tag {name}") for name in TAGS},
    }, found
    human = run_cli("data", "verify", *pair.cli_args(), "--no-postgres", env=pair.env())
    assert human.returncode == 1
    assert "dir/ünï key %41?.webp: tag visibility" in human.stdout, human.stdout
    assert "everything matches" not in human.stdout.lower()
    assert "'text/html'" in human.stdout and "'mallory'" in human.stdout


def test_backup_and_restore_carry_tags_and_headers(pair: Pair, tmp_path: Path) -> None:
    bodies = {f"m/{n}.webp": os.urandom(2_000 + n) for n in range(3)}
    for key, body in bodies.items():
        _app_object(pair.a.s3(), pair.a.bucket, key, body)
    location = tmp_path / "offsite"
    backup_media(pair, location)
    restore_media(pair, location)
    for key, body in bodies.items():
        _assert_whole(pair, key, body)


def test_a_difference_names_a_hostile_key_escaped() -> None:
    from migrate.data.comparison import Mismatch

    line = Mismatch("media:m", "evil\x1b[2J\nkey", "tag x", "'a'", "absent").describe()
    assert line == "media:m: evil\\x1b[2J\\nkey: tag x (source 'a', destination absent)"


def test_a_multipart_upload_left_by_a_killed_sync_is_aborted_by_the_next_run(pair: Pair) -> None:
    """SIGKILL mid-upload leaves parts at B; the next sync aborts exactly that upload (an app's own
    unfinished upload at B stays) and the object arrives whole."""
    import signal
    import subprocess
    import sys
    import time

    from tests.conftest import REPO

    body = os.urandom(100 * 1024 * 1024)  # multipart (above the 64 MiB threshold)
    _app_object(pair.a.s3(), pair.a.bucket, "video/big.webp", body)
    b, bucket = pair.b.s3(), pair.b.bucket
    apps = b.create_multipart_upload(Bucket=bucket, Key="video/app-upload.bin")["UploadId"]
    env = {**os.environ, "PYTHONPATH": str(REPO), **pair.env()}
    sync = subprocess.Popen(
        [sys.executable, "-m", "migrate", "data", "sync", *pair.cli_args(), "--no-postgres", "--workers", "1"],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and sync.poll() is None:
            ours = [u for u in b.list_multipart_uploads(Bucket=bucket).get("Uploads", []) if u["UploadId"] != apps]
            # parts going up: the upload's id is on record (written before the first part is sent)
            if ours and b.list_parts(Bucket=bucket, Key=ours[0]["Key"], UploadId=ours[0]["UploadId"]).get("Parts"):
                break
            time.sleep(0.02)
        assert sync.poll() is None, "the sync finished before its upload could be interrupted"
        sync.send_signal(signal.SIGKILL)
    finally:
        sync.kill()
        sync.wait()
    left = {u["UploadId"] for u in b.list_multipart_uploads(Bucket=bucket).get("Uploads", [])}
    assert len(left) == 2 and apps in left, left

    again = run_cli("data", "sync", *pair.cli_args(), "--no-postgres", "--json", env=pair.env())
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["media"][0]["uploads_aborted"] == 1
    assert [u["UploadId"] for u in b.list_multipart_uploads(Bucket=bucket).get("Uploads", [])] == [apps]
    _assert_whole(pair, "video/big.webp", body)


def _raw_utf8_put(side: object, key: str, headers: dict[str, str]) -> None:
    """Write as a client that sends raw UTF-8 header bytes does (versitygw keeps them as sent):
    a signed request whose header values are those bytes, one character per byte."""
    from migrate.data import s3_http
    from tests.data.conftest import KEYS

    endpoint = s3_http.Endpoint(side.s3_server.endpoint, "us-east-1", *KEYS)  # type: ignore[attr-defined]
    raw = {name: value.encode().decode("latin-1") for name, value in headers.items()}
    status, body, _ = endpoint.request("PUT", f"/{side.bucket}/{key}", {}, raw, b"non-ascii headers")  # type: ignore[attr-defined]
    assert status == 200, body


UTF8 = {"x-amz-meta-title": "Café — 日本語 ✓", "Content-Disposition": 'inline; filename="résumé.pdf"'}


def test_non_ascii_values_survive_byte_exact_or_are_refused_naming_the_key(pair: Pair) -> None:
    _raw_utf8_put(pair.a, "docs/utf8.pdf", UTF8)
    a = pair.a.s3()
    a.put_object(Bucket=pair.a.bucket, Key="docs/rfc2047.pdf", Body=b"x", Metadata={"title": "=?UTF-8?B?w6ljb2xl?="})
    done = run_cli("data", "sync", *pair.cli_args(), "--no-postgres", "--json", env=pair.env())
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["verify"]["ok"]
    head = pair.b.s3().head_object(Bucket=pair.b.bucket, Key="docs/utf8.pdf")
    # botocore shows header bytes one character per byte: back to bytes, they are the app's UTF-8.
    assert head["Metadata"]["title"].encode("latin-1") == UTF8["x-amz-meta-title"].encode()
    assert head["ContentDisposition"].encode("latin-1") == UTF8["Content-Disposition"].encode()
    got = pair.b.s3().head_object(Bucket=pair.b.bucket, Key="docs/rfc2047.pdf")["Metadata"]
    assert got["title"] == "=?UTF-8?B?w6ljb2xl?="

    # Where only botocore can write, such a value is refused in one line naming it, not altered.
    _raw_utf8_put(pair.a, "docs/refused.pdf", {"x-amz-meta-title": "naïve"})
    refused = run_cli("data", "sync", *pair.cli_args(), "--no-postgres", env=pair.env(MIGRATE_S3_CLIENT="botocore"))
    assert refused.returncode != 0
    errors = [line for line in refused.stderr.splitlines() if "error" in line.lower()]
    assert len(errors) == 1 and "docs/refused.pdf" in errors[0] and "x-amz-meta-title" in errors[0], refused.stderr
    assert "Traceback" not in refused.stderr
    listed = {o["Key"] for o in pair.b.s3().list_objects_v2(Bucket=pair.b.bucket)["Contents"]}
    assert "docs/refused.pdf" not in listed


def test_the_media_follower_carries_tags_and_headers(pair: Pair, monkeypatch: object) -> None:
    import threading

    from migrate.data.follow import follow_media
    from migrate.outputs import TargetOutputs

    monkeypatch.setenv("MIGRATE_HOME", str(pair.work / "home"))  # type: ignore[attr-defined]
    body = os.urandom(7_000)
    _app_object(pair.a.s3(), pair.a.bucket, "followed.webp", body)
    a, b = (TargetOutputs.model_validate(side.outputs()) for side in (pair.a, pair.b))
    state = follow_media(None, a, b, interval=0.0, stop=threading.Event(), max_passes=1)
    assert state.passes == 1 and state.failed_passes == 0, state
    _assert_whole(pair, "followed.webp", body)


def test_a_backup_file_replaced_behind_its_sidecar_is_reported(pair: Pair, tmp_path: Path, monkeypatch: object) -> None:
    """A directory's ETags are a record beside the bytes: verify reads the bytes instead."""
    from pydantic import SecretStr

    from migrate.data import media
    from migrate.data.endpoints import S3Endpoint
    from migrate.data.keyed_dir import KeyedDirStore
    from migrate.data.stores import S3Store
    from tests.data.conftest import KEYS

    monkeypatch.setenv("MIGRATE_HOME", str(pair.work / "home"))  # type: ignore[attr-defined]
    body = os.urandom(9_000)
    _app_object(pair.a.s3(), pair.a.bucket, "kept.webp", body)
    a, _ = pair.files
    location = tmp_path / "offsite"
    args = ["data", "backup", "--from-outputs", str(a), "--to", str(location), "--no-postgres", "--json"]
    made = run_cli(*args, env=pair.env())
    assert made.returncode == 0, made.stderr
    subpath = Path(json.loads(made.stdout)["media"][0]["dest"]).relative_to(location).as_posix()
    source = S3Store(
        S3Endpoint(pair.a.s3_server.endpoint, "us-east-1", SecretStr(KEYS[0]), SecretStr(KEYS[1])), pair.a.bucket
    )
    backup = KeyedDirStore(location, subpath)
    assert media.verify_objects(source, backup, area="media").ok
    [stored] = [p for p in location.rglob("*") if p.is_file() and p.stat().st_size == len(body)]
    assert stored.read_bytes() == body
    stored.write_bytes(os.urandom(len(body)))  # same size; its sidecar (ETag, sha256) untouched
    found = media.verify_objects(source, backup, area="media").mismatches
    assert [(m.item, m.kind) for m in found] == [("kept.webp", "checksum")], found
