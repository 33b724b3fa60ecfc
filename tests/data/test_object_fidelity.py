"""Objects arrive whole, and verify reads B's bytes rather than trusting B's metadata.

The sandbox's S3 servers (tests/data/conftest.py).
"""

from __future__ import annotations

import hashlib
import io
import json
import os

from tests.conftest import run_cli
from tests.data.conftest import Pair

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
    meta = {"sha256": "the-apps-own-value", "uploaded-by": "user42"}
    pair.a.s3().put_object(Bucket=pair.a.bucket, Key="img/a.webp", Body=body, Metadata=meta, **HEADERS)
    done = run_cli("data", "sync", *pair.cli_args(), "--no-postgres", "--json", env=pair.env())
    assert done.returncode == 0, done.stderr
    head = pair.b.s3().head_object(Bucket=pair.b.bucket, Key="img/a.webp")
    for name, value in HEADERS.items():
        got = head.get("ExpiresString", head.get("Expires")) if name == "Expires" else head.get(name)
        assert got == value, (name, got)
    assert head["Metadata"]["sha256"] == "the-apps-own-value"  # the app's, not migrate's
    assert head["Metadata"]["uploaded-by"] == "user42"
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
