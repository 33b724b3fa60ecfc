"""The drill load generator against a running chirp: every acknowledged write is stored."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from chirp.load import count_missing, read_acked_ids
from chirp_servers import ChirpWeb, Process


def run_load(web: ChirpWeb, env: dict[str, str], out: Path, *extra: str) -> Process:
    proc = Process(
        "load", [sys.executable, "-m", "chirp.load", "--url", web.url, "--out", str(out), "--timeout", "2", *extra], env
    )
    proc.start()
    return proc


def summary(proc: Process) -> dict:
    lines = [ln for ln in proc.output().splitlines() if ln.startswith("{")]
    return json.loads(lines[-1])


def test_every_acknowledged_write_is_in_the_database(web: ChirpWeb, env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "acks.jsonl"
    with run_load(web, env, out, "--rate", "20", "--duration", "2") as load:
        assert load.proc is not None
        assert load.proc.wait(20) == 0, load.output()
        stats = summary(load)
    acked = read_acked_ids(out)
    # The pacer must never exceed the rate; a loaded machine may fall short of it.
    assert 20 <= len(acked) <= 41, stats
    assert stats["acked"] == len(acked) and stats["errors"] == 0
    assert count_missing(acked, env["DATABASE_URL"]) == []
    assert count_missing([*acked, 10**12], env["DATABASE_URL"]) == [10**12]
    check = subprocess.run(
        [sys.executable, "-m", "chirp.load", "--check", str(out)], env=env, capture_output=True, text=True, timeout=30
    )
    assert check.returncode == 0, check.stderr
    assert json.loads(check.stdout)["missing"] == 0


def test_image_posts_store_a_unique_object_per_acked_write(web: ChirpWeb, env: dict[str, str], tmp_path: Path) -> None:
    import boto3

    out = tmp_path / "acks.jsonl"
    with run_load(web, env, out, "--rate", "20", "--duration", "1", "--image-every", "2") as load:
        assert load.proc is not None
        assert load.proc.wait(20) == 0, load.output()
    acks = [json.loads(line) for line in out.read_text().splitlines() if '"ack"' in line]
    keys = [a["media_key"] for a in acks if "media_key" in a]
    assert len(keys) >= len(acks) // 2 - 1 and len(set(keys)) == len(keys), acks
    s3 = boto3.client(
        "s3",
        endpoint_url=env["S3_ENDPOINT"],
        region_name=env["S3_REGION"],
        aws_access_key_id=env["S3_ACCESS_KEY"],
        aws_secret_access_key=env["S3_SECRET_KEY"],
    )
    for key in keys:
        body = s3.get_object(Bucket=env["S3_BUCKET"], Key=key)["Body"].read()
        assert body.startswith(b"\x89PNG") and key.endswith(hashlib.sha256(body).hexdigest())


def test_load_survives_the_target_dying_and_flushes_on_sigterm(env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "acks.jsonl"
    with ChirpWeb(env) as web, run_load(web, env, out, "--rate", "20") as load:
        deadline = time.monotonic() + 20  # the load's own start-up is slow on a busy machine
        while not (out.exists() and '"ack"' in out.read_text()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert web.proc is not None
        web.proc.kill()  # the target dies mid-run
        time.sleep(1.0)
        load.signal(signal.SIGTERM)
        assert load.proc is not None
        assert load.proc.wait(10) == 0, load.output()
        stats = summary(load)
    acked = read_acked_ids(out)
    assert acked and stats["acked"] == len(acked), stats
    assert stats["errors"] >= 1, stats  # refused connections while the target is dead
    assert stats["max_ack_gap_s"] is not None
    assert count_missing(acked, env["DATABASE_URL"]) == []
