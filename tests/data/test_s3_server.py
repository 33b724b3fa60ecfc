"""The sandbox's S3 server (versitygw) and its event listener, started as the sandbox starts them."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import httpx
import pytest
from botocore.exceptions import ClientError

from migrate.errors import MigrateError
from providers.local.servers.process import free_port
from providers.local.servers.s3 import S3Server, s3_client
from providers.local.servers.s3_events import EventListener, feed_token

KEYS = ("server-access", "server-secret/key+1")


def test_a_killed_servers_objects_are_on_its_disk_and_served_again_after_a_restart(tmp_path: Path) -> None:
    server = S3Server("127.0.0.1", free_port(), tmp_path / "data", *KEYS)
    server.start()
    try:
        assert KEYS[1] not in Path(f"/proc/{server.pid}/cmdline").read_text()  # keys never in argv
        client = s3_client(server.endpoint, *KEYS)
        client.create_bucket(Bucket="media")
        body = os.urandom(70_000)
        etag = client.put_object(Bucket="media", Key="img/a b+c.jpg", Body=body)["ETag"]
        os.killpg(os.getpgid(server.pid or 0), signal.SIGKILL)  # no clean shutdown, as a dead host
        server.stop()
        assert (tmp_path / "data" / "media" / "img" / "a b+c.jpg").read_bytes() == body  # a plain file
        server.pid = None
        server.start()
        got = client.get_object(Bucket="media", Key="img/a b+c.jpg")
        assert got["Body"].read() == body and got["ETag"] == etag
        with pytest.raises(ClientError, match="SignatureDoesNotMatch"):
            s3_client(server.endpoint, KEYS[0], "not-the-secret").list_buckets()
    finally:
        server.stop()


def test_versitygw_will_not_start_without_its_listener_and_says_so_in_one_line(tmp_path: Path) -> None:
    port = free_port()
    server = S3Server(
        "127.0.0.1", port, tmp_path / "data", *KEYS, event_webhook_url=f"http://127.0.0.1:{free_port()}/hook"
    )
    with pytest.raises(MigrateError) as caught:
        server.start(timeout=20)
    message = str(caught.value)
    assert "\n" not in message and f"S3 server (versitygw) on 127.0.0.1:{port} exited while starting" in message
    assert "webhook" in message


def test_the_listener_keeps_every_change_and_hands_it_only_to_holders_of_the_token(tmp_path: Path) -> None:
    listener = EventListener("127.0.0.1", free_port(), tmp_path / "events")
    listener.write_token(KEYS[1])
    assert (tmp_path / "events" / "token").stat().st_mode & 0o777 == 0o600
    listener.start()
    server = S3Server("127.0.0.1", free_port(), tmp_path / "data", *KEYS, event_webhook_url=listener.webhook_url)
    try:
        server.start()
        auth = {"Authorization": f"Bearer {feed_token(KEYS[1])}"}
        start = httpx.get(listener.feed_url, params={"at": "end"}, headers=auth).json()["next"]
        client = s3_client(server.endpoint, *KEYS)
        client.create_bucket(Bucket="media")
        client.put_object(Bucket="media", Key="one", Body=b"1")
        answer = httpx.get(listener.feed_url, params={"after": start, "wait": 10}, headers=auth, timeout=15).json()
        names = [(e["eventName"], e["s3"]["object"]["key"]) for e in answer["events"]]
        assert ("s3:ObjectCreated:Put", "one") in names, names
        assert httpx.get(listener.feed_url, params={"after": start}).status_code == 401
        wrong = {"Authorization": f"Bearer {feed_token('another secret')}"}
        assert httpx.get(listener.feed_url, params={"after": start}, headers=wrong).status_code == 401

        listener.stop()  # a dead listener loses what it is sent meanwhile (passes cover that), not what it kept
        client.put_object(Bucket="media", Key="two", Body=b"2")
        listener.pid = None
        listener.start()
        client.put_object(Bucket="media", Key="three", Body=b"3")
        again = httpx.get(listener.feed_url, params={"after": start, "wait": 10}, headers=auth, timeout=15).json()
        keys = [e["s3"]["object"]["key"] for e in again["events"]]
        if "three" not in keys:  # the long poll answered with what was there: ask from where it ended
            more = httpx.get(listener.feed_url, params={"after": again["next"], "wait": 10}, headers=auth, timeout=15)
            keys += [e["s3"]["object"]["key"] for e in more.json()["events"]]
        assert keys[0] == "one" and "three" in keys, keys
    finally:
        server.stop()
        listener.stop()


def test_every_hosting_adapter_declares_what_its_store_can_tell_a_follower() -> None:
    from providers.hosting import ChangeFeed
    from providers.registry import HOSTING_ADAPTERS, hosting_adapter

    feeds = {name: hosting_adapter(name).media_change_feed for name in HOSTING_ADAPTERS}
    assert all(isinstance(feed, ChangeFeed) for feed in feeds.values()), feeds
    assert feeds["local"] == ChangeFeed.WEBHOOK and feeds["aws"] == ChangeFeed.SQS
    for name, feed in feeds.items():  # the pre-flight's flag says whether; the feed says which
        assert hosting_adapter(name).supports.bucket_events == (feed != ChangeFeed.NONE), name
