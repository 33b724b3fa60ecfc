"""The media follower against two real S3 servers: uploads reach the standby pass after pass."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time

from migrate.data.follow import FollowState, follow_media
from migrate.outputs import TargetOutputs
from tests.conftest import REPO
from tests.data.conftest import Pair, put_objects


def _objects(client: object, bucket: str) -> dict[str, str]:
    listing = client.list_objects_v2(Bucket=bucket).get("Contents", [])  # type: ignore[attr-defined]
    return {o["Key"]: hashlib.sha256(client.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()).hexdigest()  # type: ignore[attr-defined]
            for o in listing}


def test_uploads_between_passes_reach_the_standby_and_a_dead_source_is_survived(pair: Pair) -> None:
    put_objects(pair.a, 20, 5_000, prefix="old/")
    a, b = (TargetOutputs.model_validate(side.outputs()) for side in (pair.a, pair.b))
    stop, seen = threading.Event(), []

    def on_pass(state: FollowState) -> None:
        seen.append((state.passes, state.failed_passes, state.objects_copied))
        if state.passes == 1:
            put_objects(pair.a, 7, 3_000, prefix="new/")  # arrives while the follower runs
        if state.passes == 2:
            stop.set()

    state = follow_media(None, a, b, interval=0.05, stop=stop, on_pass=on_pass)
    assert state.passes == 2 and state.failed_passes == 0 and state.objects_copied == 27, seen
    assert _objects(pair.b.s3(), pair.b.bucket) == _objects(pair.a.s3(), pair.a.bucket)
    assert state.synced_as_of is not None and state.lag_seconds is not None

    dead = a.model_copy(update={"s3_endpoint": "http://127.0.0.1:9"})  # nothing listens there
    state = follow_media(None, dead, b, interval=0.0, stop=threading.Event(), max_passes=2)
    assert state.passes == 0 and state.failed_passes == 2 and state.last_error, state
    assert len(_objects(pair.b.s3(), pair.b.bucket)) == 27  # nothing deleted at the standby


def test_cli_follows_until_sigterm_and_reports_its_passes(pair: Pair) -> None:
    put_objects(pair.a, 5, 1_000)
    status = pair.work / "follow.json"
    process = subprocess.Popen(
        [sys.executable, "-m", "migrate", "data", "follow", *pair.cli_args(), "--interval", "0.1",
         "--status", str(status), "--json"],
        cwd=REPO, env={**os.environ, **pair.env()}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    deadline = time.monotonic() + 60
    while not (status.exists() and json.loads(status.read_text())["passes"] >= 1):
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.05)
    put_objects(pair.a, 3, 1_000, prefix="late/")
    while json.loads(status.read_text())["objects_copied"] < 8:
        assert time.monotonic() < deadline, status.read_text()
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    document = json.loads(out)
    assert document["objects_copied"] == 8 and document["failed_passes"] == 0 and document["passes"] >= 2
    assert sorted(_objects(pair.b.s3(), pair.b.bucket)) == sorted(_objects(pair.a.s3(), pair.a.bucket))
    assert "test-secret-key-xyz" not in out + err
