"""The media follower against two real S3 servers: uploads reach the standby pass after pass."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from migrate.data import follow
from migrate.data.follow import FollowState, follow_media
from migrate.errors import MigrateError
from migrate.outputs import TargetOutputs
from providers.local.servers.s3 import S3Server
from tests.conftest import REPO, run_cli
from tests.data.conftest import KEYS, Pair, Side, put_objects


def _objects(client: object, bucket: str) -> dict[str, str]:
    listing = client.list_objects_v2(Bucket=bucket).get("Contents", [])  # type: ignore[attr-defined]
    return {
        o["Key"]: hashlib.sha256(client.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()).hexdigest()  # type: ignore[attr-defined]
        for o in listing
    }


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
        [
            sys.executable,
            "-m",
            "migrate",
            "data",
            "follow",
            *pair.cli_args(),
            "--interval",
            "0.1",
            "--status",
            str(status),
            "--json",
        ],
        cwd=REPO,
        env={**os.environ, **pair.env()},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
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


def _bucket_listings(side: Side) -> int:
    """Listings of the bucket (either API version) in the S3 server's access log."""
    pattern = re.compile(rf"^\S+ {re.escape(side.bucket)} \[.* s3_ListObjects(V2)? ", re.MULTILINE)
    assert isinstance(side.s3_server, S3Server)
    return len(pattern.findall(side.s3_server.access_log_path.read_text(errors="replace")))


def test_ordinary_passes_list_only_the_source_and_full_passes_repair_the_destination(pair: Pair) -> None:
    """Between full passes the follower trusts what it knows the standby holds; a full pass re-checks it."""
    put_objects(pair.a, 10, 4_000)
    a, b = (TargetOutputs.model_validate(side.outputs()) for side in (pair.a, pair.b))
    client_b, stop = pair.b.s3(), threading.Event()
    seen: list[tuple[int, int, int]] = []  # (passes, full passes, standby listings during the pass)
    damaged = ["img/00003.bin", "img/00007.bin"]
    listed_before = [_bucket_listings(pair.b)]  # the test's own listings of the standby don't count

    def on_pass(state: FollowState) -> None:
        assert not state.last_error, state.last_error
        seen.append((state.passes, state.full_passes, _bucket_listings(pair.b) - listed_before[0]))
        if state.passes == 1:
            put_objects(pair.a, 1, 7_000, prefix="new/")  # an upload between passes
        elif state.passes == 2:  # an ordinary pass copied it, without listing the standby
            assert seen[-1] == (2, 1, 0), seen
            assert _objects(client_b, pair.b.bucket) == _objects(pair.a.s3(), pair.a.bucket)
            head_a = pair.a.s3().head_object(Bucket=pair.a.bucket, Key="new/00000.bin")
            head_b = client_b.head_object(Bucket=pair.b.bucket, Key="new/00000.bin")
            assert head_b["ETag"] == head_a["ETag"] and head_b["ContentLength"] == 7_000
            client_b.delete_object(Bucket=pair.b.bucket, Key=damaged[0])  # behind the follower's back
            client_b.put_object(Bucket=pair.b.bucket, Key=damaged[1], Body=b"altered")
        elif state.passes == 3:  # ordinary again: the damage is not seen yet (the documented price)
            assert seen[-1] == (3, 1, 0), seen
            held = _objects(client_b, pair.b.bucket)
            assert damaged[0] not in held and len(held) == 10
        elif state.passes == 4:  # full: the standby re-listed, the damage repaired
            assert seen[-1][:2] == (4, 2) and seen[-1][2] >= 1, seen
            stop.set()
        listed_before[0] = _bucket_listings(pair.b)

    state = follow_media(
        None, a, b, interval=0.0, stop=stop, full_every=3, full_seconds=3600.0, on_pass=on_pass, max_passes=6
    )
    assert (state.passes, state.full_passes, state.failed_passes) == (4, 2, 0), seen
    assert _objects(client_b, pair.b.bucket) == _objects(pair.a.s3(), pair.a.bucket)
    assert state.objects_copied == 10 + 1 + 2


def test_a_failed_pass_makes_the_next_one_full(pair: Pair) -> None:
    """What a failed pass wrote is unaccounted for, so the follower re-lists the standby after one."""
    put_objects(pair.a, 3, 1_000)
    a, b = (TargetOutputs.model_validate(side.outputs()) for side in (pair.a, pair.b))
    stop = threading.Event()

    def on_pass(state: FollowState) -> None:
        if state.passes == 1 and not state.failed_passes:
            for item in pair.b.s3().list_objects_v2(Bucket=pair.b.bucket).get("Contents", []):
                pair.b.s3().delete_object(Bucket=pair.b.bucket, Key=item["Key"])
            pair.b.s3().delete_bucket(Bucket=pair.b.bucket)  # the next ordinary pass's PUT fails
            put_objects(pair.a, 1, 1_000, prefix="new/")
        if state.passes == 2:
            stop.set()

    state = follow_media(
        None, a, b, interval=0.0, stop=stop, full_every=100, full_seconds=3600.0, on_pass=on_pass, max_passes=5
    )
    assert (state.passes, state.failed_passes, state.full_passes) == (2, 1, 2), state
    assert _objects(pair.b.s3(), pair.b.bucket) == _objects(pair.a.s3(), pair.a.bucket)
    assert len(_objects(pair.b.s3(), pair.b.bucket)) == 4


def _sqs(side: Side) -> Any:
    import boto3

    return boto3.client(
        "sqs",
        endpoint_url=side.s3_server.endpoint,
        aws_access_key_id=KEYS[0],
        aws_secret_access_key=KEYS[1],
        region_name="us-east-1",
    )


def _one_upload_copied_on_its_event(
    pair: Pair, a: TargetOutputs, b: TargetOutputs, key: str, after_first_pass: Callable[[], None] = lambda: None
) -> None:
    """Follow A (holding 3 objects) to B with events on and passes an hour apart: after the first
    pass (and ``after_first_pass``), one upload of ``key`` at A must reach B by its event alone."""
    stop, first_pass = threading.Event(), threading.Event()
    states: list[FollowState] = []
    follower = threading.Thread(
        target=lambda: states.append(
            follow_media(None, a, b, interval=3600.0, stop=stop, events="on", on_pass=lambda _: first_pass.set())
        )
    )
    follower.start()
    try:
        assert first_pass.wait(60)
        after_first_pass()
        body = os.urandom(9_000)
        pair.a.s3().put_object(Bucket=pair.a.bucket, Key=key, Body=body)
        deadline = time.monotonic() + 20
        while key not in _objects(pair.b.s3(), pair.b.bucket):
            assert time.monotonic() < deadline and follower.is_alive(), states
            time.sleep(0.1)
    finally:
        stop.set()
        follower.join(30)
    [state] = states
    assert state.passes == 1, state  # no second pass: the event did it
    assert state.events == "on" and state.copied_on_events == 1 and state.objects_copied == 4
    got = pair.b.s3().get_object(Bucket=pair.b.bucket, Key=key)["Body"].read()
    assert hashlib.sha256(got).hexdigest() == hashlib.sha256(body).hexdigest()


def test_the_sandbox_feed_copies_an_upload_at_once_and_a_provider_without_one_follows_by_passes(pair: Pair) -> None:
    """The local provider declares a webhook feed: versitygw posts each change to the target's
    event listener, which the follower reads; a provider that declares none gets passes alone."""
    put_objects(pair.a, 3, 1_000)
    a, b = (TargetOutputs.model_validate(side.outputs()) for side in (pair.a, pair.b))
    _one_upload_copied_on_its_event(pair, a, b, "late/photo 1+x%.jpg")

    elsewhere = a.model_copy(update={"provider": "hetzner"})
    with pytest.raises(MigrateError, match="provider hetzner declares no change feed"):
        follow_media(None, elsewhere, b, interval=0.0, stop=threading.Event(), max_passes=1, events="on")
    state = follow_media(None, elsewhere, b, interval=0.0, stop=threading.Event(), max_passes=1, events="auto")
    assert state.events.startswith("unavailable: ") and state.passes == 1 and state.failed_passes == 0


def test_events_copy_an_upload_at_once_and_leave_the_source_as_they_found_it(aws_pair: Pair) -> None:
    """AWS (moto, its emulator) delivers S3 notifications to SQS on the same port."""
    pair = aws_pair
    put_objects(pair.a, 3, 1_000)
    client_a, sqs = pair.a.s3(), _sqs(pair.a)
    app_queue = sqs.create_queue(QueueName=f"app-{pair.a.bucket}")["QueueUrl"]
    app_arn = sqs.get_queue_attributes(QueueUrl=app_queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    theirs = {"QueueConfigurations": [{"Id": "app-deletes", "QueueArn": app_arn, "Events": ["s3:ObjectRemoved:*"]}]}
    client_a.put_bucket_notification_configuration(Bucket=pair.a.bucket, NotificationConfiguration=theirs)
    a, b = (TargetOutputs.model_validate(side.outputs()) for side in (pair.a, pair.b))

    def both_rules_while_following() -> None:
        during = client_a.get_bucket_notification_configuration(Bucket=pair.a.bucket)["QueueConfigurations"]
        assert sorted(rule["Id"].split("-")[0] for rule in during) == ["app", "migrate"], during

    key = "late/photo 1+x.jpg"  # needs URL-decoding
    _one_upload_copied_on_its_event(pair, a, b, key, after_first_pass=both_rules_while_following)
    after = client_a.get_bucket_notification_configuration(Bucket=pair.a.bucket)
    assert after["QueueConfigurations"] == theirs["QueueConfigurations"], after
    assert [url for url in sqs.list_queues().get("QueueUrls", []) if "migrate-follow" in url] == []


def test_events_on_fails_in_one_line_where_the_bucket_notifies_elsewhere_and_auto_follows_by_passes(
    aws_pair: Pair,
) -> None:
    pair = aws_pair
    put_objects(pair.a, 2, 1_000)
    a, b = (TargetOutputs.model_validate(side.outputs()) for side in (pair.a, pair.b))
    client_a, sqs = pair.a.s3(), _sqs(pair.a)
    other = sqs.create_queue(QueueName=f"other-{pair.a.bucket}")["QueueUrl"]
    other_arn = sqs.get_queue_attributes(QueueUrl=other, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    client_a.put_bucket_notification_configuration(
        Bucket=pair.a.bucket,
        NotificationConfiguration={
            "QueueConfigurations": [{"Id": "app-uploads", "QueueArn": other_arn, "Events": ["s3:ObjectCreated:Put"]}]
        },
    )
    try:
        follow_media(None, a, b, interval=0.0, stop=threading.Event(), max_passes=1, events="on")
    except MigrateError as exc:
        assert "already sends ObjectCreated notifications" in str(exc) and "app-uploads" in str(exc)
    else:
        raise AssertionError("events=on followed a bucket whose ObjectCreated events go elsewhere")
    state = follow_media(None, a, b, interval=0.0, stop=threading.Event(), max_passes=1, events="auto")
    assert state.events.startswith("unavailable: ") and state.passes == 1 and state.objects_copied == 2
    kept = client_a.get_bucket_notification_configuration(Bucket=pair.a.bucket)["QueueConfigurations"]
    assert [rule["Id"] for rule in kept] == ["app-uploads"]
    assert [url for url in sqs.list_queues().get("QueueUrls", []) if "migrate-follow" in url] == []


def test_cli_events_option(pair: Pair) -> None:
    put_objects(pair.a, 2, 1_000)
    env = {**os.environ, **pair.env()}
    bad = run_cli("data", "follow", *pair.cli_args(), "--events", "sometimes", "--json", env=env)
    assert bad.returncode == 2 and json.loads(bad.stdout)["exit_code"] == 2
    assert bad.stderr.strip() == "error: --events must be one of off, on, auto, not 'sometimes'"
    done = run_cli("data", "follow", *pair.cli_args(), "--events", "on", "--passes", "1", "--json", env=env)
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["events"] == "on" and document["passes"] == 1 and document["objects_copied"] == 2
    assert _objects(pair.b.s3(), pair.b.bucket) == _objects(pair.a.s3(), pair.a.bucket)


def test_events_and_passes_together_leave_the_standby_equal_to_the_source(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Uploads from several writers while passes run (every 0.2 s here) and notifications arrive."""
    monkeypatch.setattr(follow, "EVENTS_PASS_INTERVAL", 0.2)  # passes overlap the announced copies
    put_objects(pair.a, 30, 2_000)
    a, b = (TargetOutputs.model_validate(side.outputs()) for side in (pair.a, pair.b))
    stop, first_pass = threading.Event(), threading.Event()
    states: list[FollowState] = []
    follower = threading.Thread(
        target=lambda: states.append(
            follow_media(
                None, a, b, interval=0.2, stop=stop, events="on", full_every=3, on_pass=lambda _: first_pass.set()
            )
        )
    )
    follower.start()
    try:
        assert first_pass.wait(60)
        writers = [
            threading.Thread(target=put_objects, args=(pair.a, 25, 1_500), kwargs={"prefix": f"w{n}/"})
            for n in range(3)
        ]
        for writer in writers:
            writer.start()
        for writer in writers:
            writer.join()
        deadline = time.monotonic() + 30
        while len(_objects(pair.b.s3(), pair.b.bucket)) < 105:
            assert time.monotonic() < deadline and follower.is_alive()
            time.sleep(0.2)
    finally:
        stop.set()
        follower.join(30)
    [state] = states
    assert state.failed_passes == 0 and state.failed_event_copies == 0 and state.copied_on_events > 0, state
    assert state.passes >= 3, state
    assert _objects(pair.b.s3(), pair.b.bucket) == _objects(pair.a.s3(), pair.a.bucket)


def test_a_pass_under_way_skips_what_the_announcers_copied(pair: Pair, monkeypatch: pytest.MonkeyPatch) -> None:
    """The second pass's listing of A is held back until the announcers have copied six uploads;
    the pass then finds them already at B and copies nothing a second time."""
    from migrate.data.stores import S3Store

    monkeypatch.setattr(follow, "EVENTS_PASS_INTERVAL", 0.0)
    put_objects(pair.a, 4, 1_000)
    a, b = (TargetOutputs.model_validate(side.outputs()) for side in (pair.a, pair.b))
    announced_all, stop = threading.Event(), threading.Event()
    source_pages = S3Store.pages
    listings_of_a = []

    def pages(self: S3Store, create: bool = False) -> Any:
        if self.endpoint.url == a.s3_endpoint:
            listings_of_a.append(self.bucket)
            if len(listings_of_a) == 2:  # the second pass: uploads arrive, announced copies land meanwhile
                put_objects(pair.a, 6, 2_000, prefix="during/")
                assert announced_all.wait(30), "the announcers did not copy the uploads"
        return source_pages(self, create)

    def on_announced(state: FollowState) -> None:
        if state.copied_on_events >= 6:
            announced_all.set()

    monkeypatch.setattr(S3Store, "pages", pages)
    state = follow_media(None, a, b, interval=0.0, stop=stop, events="on", max_passes=2, on_announced=on_announced)
    assert state.passes == 2 and state.copied_on_events == 6, state
    assert state.objects_copied == 4 + 6, state  # the first pass's 4, the announced 6, nothing twice
    assert _objects(pair.b.s3(), pair.b.bucket) == _objects(pair.a.s3(), pair.a.bucket)


def test_an_announcement_delivered_twice_at_once_is_copied_once(
    aws_pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Queues deliver at least once (moto's SQS, polled by several threads, hands one message to
    two of them now and then). Here every announcement is handed out a second time, to the next
    announcer that polls, while the copy of the first is held back; each upload is copied once."""
    pair = aws_pair
    from migrate.data import media
    from migrate.data.follow_events import Announcement, EventFeed

    monkeypatch.setattr(follow, "EVENTS_PASS_INTERVAL", 60.0)  # no second pass: the announcers alone
    put_objects(pair.a, 3, 1_000)
    a, b = (TargetOutputs.model_validate(side.outputs()) for side in (pair.a, pair.b))
    stop, settled = threading.Event(), threading.Event()
    poll_lock, lock, duplicates = threading.Lock(), threading.Lock(), list[Announcement]()
    handed_twice: dict[str, threading.Event] = {}  # key → set once its second delivery is out
    counts = {"delivered": 0, "reported": 0}  # announcements handed out (each twice), and reported
    source_poll, source_copy = EventFeed.poll, media._copy_one

    def poll(self: EventFeed, wait_seconds: int) -> Announcement:
        with poll_lock:  # one poll at a time: the poll after an original always hands out its duplicate
            if duplicates:
                duplicate = duplicates.pop()
                for objects in duplicate.objects.values():
                    for key in objects:
                        handed_twice[key].set()
                return duplicate
            announced = source_poll(self, wait_seconds)
            if announced.objects:
                with lock:
                    counts["delivered"] += 2
                for objects in announced.objects.values():
                    for key in objects:
                        handed_twice[key] = threading.Event()
                duplicates.append(Announcement(dict(announced.objects), announced.oldest, []))
            return announced

    def copy_one(*args: Any) -> Any:
        if threading.current_thread().name.startswith("follow-events"):
            assert handed_twice[args[2].key].wait(10), "no announcer polled for the duplicate"
            time.sleep(0.5)  # and the duplicate's announcer is under way meanwhile
        return source_copy(*args)

    def on_pass(state: FollowState) -> None:
        if state.passes == 1:
            put_objects(pair.a, 5, 2_000, prefix="during/")

    def on_announced(state: FollowState) -> None:
        with lock:
            counts["reported"] += 1
            if state.copied_on_events >= 5 and counts["reported"] == counts["delivered"]:
                settled.set()
                stop.set()

    monkeypatch.setattr(EventFeed, "poll", poll)
    monkeypatch.setattr(media, "_copy_one", copy_one)
    give_up = threading.Timer(60, stop.set)
    give_up.start()
    try:
        state = follow_media(
            None, a, b, interval=0.0, stop=stop, events="on", on_pass=on_pass, on_announced=on_announced
        )
    finally:
        give_up.cancel()
    assert settled.is_set() and state.failed_event_copies == 0, (state, counts)
    assert state.passes == 1 and state.copied_on_events == 5 and state.objects_copied == 3 + 5, state
    assert _objects(pair.b.s3(), pair.b.bucket) == _objects(pair.a.s3(), pair.a.bucket)
