"""``migrate drill`` on an app this project did not write: Synapse, the Matrix homeserver.

One real run: the Pulumi engine deploys Synapse twice from ``examples/synapse/migrate.yaml``
(its config file rendered from the spec's ``files:`` with both targets' own database, bucket
and secrets; a database of the ``C`` locale Synapse demands), the spec's probes register an
account, open a room and send messages through Matrix's client API on A, media goes up
through its media API, A is SIGKILLed, B is promoted from its synchronous logical replica,
DNS swings. Then, with the stacks kept, the test checks B as a Matrix client would — not only
migrate's own read-back: every acknowledged message is in the room's history on B, the media
A stored downloads byte-exact from B, B takes new messages as the new primary, and an upload
on B lands in B's bucket through Synapse's S3 storage provider. Nothing is left after.
"""

from __future__ import annotations

import hashlib
import json
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.apps.synapse import SYNAPSE_SPEC, SYNAPSE_VENV, synapse_env
from tests.failover.private_sandbox import NOTHING_LEFT, PrivateSandbox, private_sandbox

pytestmark = pytest.mark.slow

DOMAIN = "matrix.test"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[PrivateSandbox]:
    assert (SYNAPSE_VENV / "bin" / "synapse_homeserver").exists(), "Synapse is installed by scripts/bootstrap"
    sb = private_sandbox("migrate-synapse-", SYNAPSE_SPEC, synapse_env())
    try:
        yield sb
    finally:
        sb.clean_up()


@pytest.fixture(scope="module")
def report(sandbox: PrivateSandbox) -> dict[str, Any]:
    # Just before A is killed, media goes up to A through Synapse's own media API.
    uploader = f"{sys.executable} -m tests.apps.synapse_upload {sandbox.a} {sandbox.base / 'uploaded.json'}"
    result = sandbox.drill(
        "--keep", rate=30, env={"MIGRATE_FAULT_AT": "before:terminate", "MIGRATE_FAULT_RUN": uploader}
    )
    assert result.returncode == 0, f"drill failed (exit {result.returncode}):\n{result.stderr[-5000:]}"
    document: dict[str, Any] = json.loads(result.stdout)
    return document


@pytest.fixture(scope="module")
def load_events(sandbox: PrivateSandbox, report: dict[str, Any]) -> list[dict[str, Any]]:
    path = sandbox.home / "runs" / report["run_id"] / "load.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _step(report: dict[str, Any], step_id: str) -> dict[str, Any]:
    return next(s for s in report["steps"] if s["id"] == step_id)


def _client(sandbox: PrivateSandbox, load_events: list[dict[str, Any]]) -> httpx.Client:
    """B's front, as a Matrix client reaches it: the service's Host, logged in as the drill's
    account with its password (the load's file holds no token: migrate never writes one)."""
    run = next(e["run"] for e in load_events if e["event"] == "start")
    with httpx.Client(base_url=f"http://{sandbox.b}", headers={"Host": DOMAIN}, timeout=30) as anonymous:
        login = anonymous.post(
            "/_matrix/client/v3/login",
            json={
                "type": "m.login.password",
                "identifier": {"type": "m.id.user", "user": f"drill{run}"},
                "password": f"drill-{run}-probe",
            },
        )
    assert login.status_code == 200, login.text[:300]
    token = login.json()["access_token"]
    return httpx.Client(
        base_url=f"http://{sandbox.b}", headers={"Host": DOMAIN, "Authorization": f"Bearer {token}"}, timeout=30
    )


def test_the_drill_is_ok_with_no_acknowledged_message_lost(report: dict[str, Any]) -> None:
    assert report["ok"], [(s["id"], s["error"]) for s in report["steps"] if s["error"]]
    figures = report["figures"]
    assert figures["data_route"] == "promote"
    assert figures["rpo"]["probe_writes"]["acked"] > 0
    assert figures["rpo"]["probe_writes"]["lost"] == 0
    assert figures["rpo"]["canary_rows"]["lost"] == 0
    assert 0 < figures["rto_seconds"] < 300


def test_replication_was_synchronous_and_says_what_it_could_not_carry(report: dict[str, Any]) -> None:
    replication = _step(report, "replicate")["outputs"]["replication"]
    assert replication["synchronous"] and replication["state"] == "streaming"
    # Synapse keeps two UNLOGGED lock tables: Postgres cannot publish them, and migrate says so.
    assert any("unlogged table(s) not replicated" in change for change in replication["changes"])


def test_the_load_file_holds_what_setup_captured_but_no_credential(
    sandbox: PrivateSandbox, load_events: list[dict[str, Any]]
) -> None:
    setup = next(e["values"] for e in load_events if e["event"] == "setup")
    assert setup["room"].startswith("!") and "access_token" not in setup
    assert "syt_" not in json.dumps(load_events)  # Synapse's access tokens begin so


def test_every_acknowledged_message_is_in_the_room_on_b(
    sandbox: PrivateSandbox, load_events: list[dict[str, Any]]
) -> None:
    setup = next(e["values"] for e in load_events if e["event"] == "setup")
    acked = {e["token"] for e in load_events if e["event"] == "ack"}
    assert acked
    with _client(sandbox, load_events) as client:
        answer = client.get(f"/_matrix/client/v3/rooms/{setup['room']}/messages", params={"dir": "b", "limit": 10_000})
        assert answer.status_code == 200, answer.text[:300]
        bodies = " ".join(str(e.get("content", {}).get("body", "")) for e in answer.json()["chunk"])
    missing = [token for token in acked if token not in bodies]
    assert not missing, f"{len(missing)} of {len(acked)} acknowledged messages not on B"


def test_b_takes_new_messages_as_the_new_primary(sandbox: PrivateSandbox, load_events: list[dict[str, Any]]) -> None:
    setup = next(e["values"] for e in load_events if e["event"] == "setup")
    with _client(sandbox, load_events) as client:
        for n in range(20):  # new event ids and stream positions: none may collide with A's
            txn = uuid.uuid4().hex
            sent = client.put(
                f"/_matrix/client/v3/rooms/{setup['room']}/send/m.room.message/{txn}",
                json={"msgtype": "m.text", "body": f"after failover {n} {txn}"},
            )
            assert sent.status_code == 200, sent.text[:300]
            read = client.get(f"/_matrix/client/v3/rooms/{setup['room']}/event/{sent.json()['event_id']}")
            assert read.status_code == 200 and txn in read.text


def test_media_uploaded_to_a_before_the_kill_downloads_byte_exact_from_b(
    sandbox: PrivateSandbox, report: dict[str, Any]
) -> None:
    uploaded = json.loads((sandbox.base / "uploaded.json").read_text())
    assert len(uploaded["media"]) == 5
    with httpx.Client(base_url=f"http://{sandbox.b}", headers={"Host": DOMAIN}, timeout=30) as client:
        for item in uploaded["media"]:
            answer = client.get(f"/_matrix/media/v3/download/{DOMAIN}/{item['id']}")
            assert answer.status_code == 200, (item["id"], answer.status_code, answer.text[:200])
            assert hashlib.sha256(answer.content).hexdigest() == item["sha256"], item["id"]


def test_media_uploaded_on_b_lands_in_bs_bucket(
    sandbox: PrivateSandbox, load_events: list[dict[str, Any]], tmp_path: Path
) -> None:
    payload = uuid.uuid4().bytes * 1000
    with _client(sandbox, load_events) as client:
        uploaded = client.post(
            "/_matrix/media/v3/upload", content=payload, headers={"Content-Type": "application/octet-stream"}
        )
        assert uploaded.status_code == 200, uploaded.text[:300]
        media_id = uploaded.json()["content_uri"].rsplit("/", 1)[1]
        downloaded = client.get(f"/_matrix/media/v3/download/{DOMAIN}/{media_id}")
        assert downloaded.status_code == 200 and downloaded.content == payload
    # The bucket as B's outputs name it, listed with boto3 under `migrate exec`.
    lister = tmp_path / "list.py"
    lister.write_text(
        "import os, boto3\n"
        "endpoint = os.environ['S3_ENDPOINT']\n"
        "endpoint = endpoint if '://' in endpoint else 'http://' + endpoint\n"
        "s3 = boto3.client('s3', endpoint_url=endpoint, region_name=os.environ['S3_REGION'],\n"
        "    aws_access_key_id=os.environ['S3_ACCESS_KEY'], aws_secret_access_key=os.environ['S3_SECRET_KEY'])\n"
        "pages = s3.get_paginator('list_objects_v2').paginate(Bucket=os.environ['S3_BUCKET_SYNAPSE_MEDIA'])\n"
        "print('\\n'.join(o['Key'] for p in pages for o in p.get('Contents', [])))\n"
    )
    listed = sandbox.cli("exec", "--target", "local-b", "--", sys.executable, str(lister))
    assert listed.returncode == 0, listed.stderr[-2000:]
    # Synapse's own layout: local_content/ab/cd/rest-of-the-id.
    stored = f"local_content/{media_id[:2]}/{media_id[2:4]}/{media_id[4:]}"
    assert stored in listed.stdout.split(), f"{stored} not in B's bucket: {listed.stdout.split()[:20]}"


def test_nothing_is_left_after_the_kept_stacks_are_destroyed(sandbox: PrivateSandbox, report: dict[str, Any]) -> None:
    sandbox.tear_down_pair()
    assert sandbox.leftovers(dns_dirs=False) == NOTHING_LEFT
