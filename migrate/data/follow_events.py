"""Object-created notifications of the source's media buckets, for the follower to copy at once.

Two kinds of feed, as the source's provider declares (``HostingAdapter.media_change_feed``):
``EventFeed`` (SQS) and ``WebhookFeed`` (a server-wide feed read over HTTP, below).

S3 event notifications (``PutBucketNotificationConfiguration``) into an SQS queue at the same
endpoint: AWS itself (and moto, its emulator, in the tests). Most S3-compatible
providers (R2, Spaces, Hetzner, MinIO without a configured target) have no SQS: ``open`` then
fails with one line and the follower keeps to listing passes.

The feed changes the SOURCE bucket's configuration, so it is opt-in, adds only its own rule
(an S3 bucket allows one destination per event type and key prefix: an existing ObjectCreated
rule is refused by S3, and by us first with a clear message), and puts the configuration back
as it found it on ``close``. A follower killed outright leaves both behind (the queue keeps
collecting); the next run for the same pair reuses them by name and removes them when it ends.
Notifications are at-least-once and may be late (AWS: usually seconds, sometimes a minute) or
lost: the follower's listing passes stay the safety net.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

from migrate.errors import MigrateError

if TYPE_CHECKING:
    from migrate.data.endpoints import S3Endpoint
    from migrate.data.stores import ObjectInfo

_CREATED = "s3:ObjectCreated:*"
_RESPONSE_ONLY = ("ResponseMetadata",)


@dataclass
class Announcement:
    """What one poll of the queue announced: bucket → objects created, the oldest event time
    (epoch seconds; None when there are none), and the messages to ``ack`` once copied."""

    objects: dict[str, dict[str, ObjectInfo]] = field(default_factory=dict)
    oldest: float | None = None
    receipts: list[str] = field(default_factory=list)


@dataclass
class EventFeed:
    """One SQS queue receiving ObjectCreated events of ``buckets`` at ``endpoint``."""

    endpoint: S3Endpoint
    buckets: list[str]
    name: str  # the queue's name and our rule's Id: derived from the follower's pair
    _s3: Any = field(default=None, repr=False)
    _sqs: Any = field(default=None, repr=False)
    _queue_url: str = ""
    _configured: list[str] = field(default_factory=list)

    @classmethod
    def for_pair(cls, endpoint: S3Endpoint, buckets: list[str], source: str, dest: str) -> EventFeed:
        digest = hashlib.sha256(f"{source}\n{dest}\n{','.join(buckets)}".encode()).hexdigest()[:16]
        return cls(endpoint, buckets, f"migrate-follow-{digest}")

    def _clients(self) -> tuple[Any, Any]:
        if self._sqs is None:
            import botocore.session
            from botocore.config import Config

            from migrate.redact import register_secret

            ep = self.endpoint
            for secret in (ep.access_key, ep.secret_key):
                if secret is not None:
                    register_secret(secret.get_secret_value())
            keys = {
                "aws_access_key_id": ep.access_key.get_secret_value() if ep.access_key else None,
                "aws_secret_access_key": ep.secret_key.get_secret_value() if ep.secret_key else None,
            }
            config = Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=5, read_timeout=30)
            session = botocore.session.get_session()
            self._s3 = session.create_client(
                "s3",
                endpoint_url=ep.url,
                region_name=ep.region,
                config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2, "mode": "standard"}),
                **keys,
            )
            self._sqs = session.create_client("sqs", endpoint_url=ep.url, region_name=ep.region, config=config, **keys)
        return self._s3, self._sqs

    def open(self) -> None:
        """Create the queue and add our rule to every bucket; undo what was done if any step fails."""
        from botocore.exceptions import BotoCoreError, ClientError

        s3, sqs = self._clients()
        try:
            self._queue_url = sqs.create_queue(QueueName=self.name)["QueueUrl"]
            attributes = sqs.get_queue_attributes(QueueUrl=self._queue_url, AttributeNames=["QueueArn"])
            arn = attributes["Attributes"]["QueueArn"]
            sources = [f"arn:aws:s3:::{bucket}" for bucket in self.buckets]
            sqs.set_queue_attributes(
                QueueUrl=self._queue_url,
                Attributes={
                    "Policy": json.dumps(
                        {
                            "Version": "2012-10-17",
                            "Statement": [
                                {
                                    "Effect": "Allow",
                                    "Principal": {"Service": "s3.amazonaws.com"},
                                    "Action": "sqs:SendMessage",
                                    "Resource": arn,
                                    "Condition": {"ArnLike": {"aws:SourceArn": sources}},
                                }
                            ],
                        }
                    )
                },
            )
            for bucket in self.buckets:
                config = self._configuration(bucket)
                for rule in (
                    config.get("QueueConfigurations", [])
                    + config.get("TopicConfigurations", [])
                    + config.get("LambdaFunctionConfigurations", [])
                ):
                    if rule.get("Id") != self.name and any(e.startswith("s3:ObjectCreated") for e in rule["Events"]):
                        raise MigrateError(
                            f"bucket {bucket} already sends ObjectCreated notifications "
                            f"(rule {rule.get('Id')!r}); S3 allows one destination per event"
                        )
                rules = [r for r in config.get("QueueConfigurations", []) if r.get("Id") != self.name]
                config["QueueConfigurations"] = [*rules, {"Id": self.name, "QueueArn": arn, "Events": [_CREATED]}]
                s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=config)
                self._configured.append(bucket)
        except (ClientError, BotoCoreError, MigrateError) as exc:
            self.close()
            raise MigrateError(f"S3 event notifications at {self.endpoint.label}: {_reason(exc)}") from None

    def _configuration(self, bucket: str) -> dict[str, Any]:
        s3, _ = self._clients()
        found = s3.get_bucket_notification_configuration(Bucket=bucket)
        return {k: v for k, v in found.items() if k not in _RESPONSE_ONLY}

    def poll(self, wait_seconds: int) -> Announcement:
        """Objects created since they were last polled (waits up to ``wait_seconds`` for the first).

        Several threads may poll at once: SQS hands each message to one of them, hidden from the
        others until ``ack`` deletes it or the queue's visibility timeout brings it back.
        """
        _, sqs = self._clients()
        try:
            messages = sqs.receive_message(
                QueueUrl=self._queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_seconds
            ).get("Messages", [])
        except Exception as exc:
            raise MigrateError(f"S3 event queue at {self.endpoint.label}: {_reason(exc)}") from None
        announced = Announcement(receipts=[m["ReceiptHandle"] for m in messages])
        for message in messages:
            try:
                records = json.loads(message["Body"]).get("Records", [])  # s3:TestEvent has none
            except ValueError:
                continue
            _announce(announced, records, self.buckets, url_encoded_keys=True)
        return announced

    def ack(self, announced: Announcement) -> None:
        """Delete the messages of ``announced`` once its objects are copied. Never acked (the copy
        failed, the follower died), they come back after the queue's visibility timeout."""
        if not announced.receipts:
            return
        _, sqs = self._clients()
        try:
            sqs.delete_message_batch(
                QueueUrl=self._queue_url,
                Entries=[{"Id": str(n), "ReceiptHandle": receipt} for n, receipt in enumerate(announced.receipts)],
            )
        except Exception as exc:
            raise MigrateError(f"S3 event queue at {self.endpoint.label}: {_reason(exc)}") from None

    def close(self) -> None:
        """Take our rule off every bucket and delete the queue; a dead endpoint is left as it is."""
        s3, sqs = self._clients()
        for bucket in list(self._configured):
            try:
                config = self._configuration(bucket)
                config["QueueConfigurations"] = [
                    r for r in config.get("QueueConfigurations", []) if r.get("Id") != self.name
                ]
                if not config["QueueConfigurations"]:
                    del config["QueueConfigurations"]
                s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=config)
                self._configured.remove(bucket)
            except Exception:  # best effort: the source may be gone
                pass
        if self._queue_url:
            try:
                sqs.delete_queue(QueueUrl=self._queue_url)
                self._queue_url = ""
            except Exception:  # likewise
                pass


def _announce(announced: Announcement, records: list[Any], buckets: list[str], *, url_encoded_keys: bool) -> None:
    """Add the ObjectCreated records of ``buckets`` to ``announced`` (AWS names them
    ``ObjectCreated:Put`` and URL-encodes keys; versitygw writes ``s3:ObjectCreated:Put``, keys as is)."""
    from migrate.data.stores import ObjectInfo

    for record in records:
        if not isinstance(record, dict):
            continue
        s3 = record.get("s3", {})
        bucket, obj = s3.get("bucket", {}).get("name"), s3.get("object", {})
        name = str(record.get("eventName", "")).removeprefix("s3:")
        if not name.startswith("ObjectCreated") or bucket not in buckets or not obj.get("key"):
            continue
        key = unquote_plus(obj["key"]) if url_encoded_keys else str(obj["key"])
        at = _epoch(record.get("eventTime"))
        if at is not None and (announced.oldest is None or at < announced.oldest):
            announced.oldest = at
        announced.objects.setdefault(bucket, {})[key] = ObjectInfo(
            key, int(obj.get("size") or 0), str(obj.get("eTag", "")).strip('"')
        )


@dataclass
class WebhookFeed:
    """A server-wide event feed read over HTTP (``outputs.s3_events_url``): the sandbox's
    versitygw posts every change to a listener that keeps them on the target's disk
    (``providers/local/servers/s3_events``). The feed changes nothing at the source, so
    ``close`` has nothing to undo; reading starts at the feed's end when ``open`` is called
    (what came before is the first pass's job). Several threads may poll: each event is
    handed to one of them. An event read but never copied (the copy failed) is not read
    again: a failed copy makes the next pass full, which finds it.
    """

    url: str
    token: str = field(repr=False)
    buckets: list[str]
    _client: Any = field(default=None, repr=False)
    _next: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def for_endpoint(cls, url: str, endpoint: S3Endpoint, buckets: list[str]) -> WebhookFeed:
        import hashlib as _hashlib
        import hmac

        # The listener's own derivation (providers.local.servers.s3_events.feed_token): whoever
        # holds the store's secret key may read its feed; the secret itself is never sent.
        secret = endpoint.secret_key.get_secret_value() if endpoint.secret_key else ""
        token = hmac.new(secret.encode(), b"migrate s3 event feed", _hashlib.sha256).hexdigest()
        return cls(url, token, buckets)

    def _get(self, **params: object) -> dict[str, Any]:
        import httpx

        if self._client is None:
            self._client = httpx.Client(timeout=httpx.Timeout(10.0, read=40.0))
        try:
            response = self._client.get(self.url, params=params, headers={"Authorization": f"Bearer {self.token}"})
        except httpx.HTTPError as exc:
            raise MigrateError(f"S3 event feed at {self.url}: {type(exc).__name__}: {exc}") from None
        if response.status_code != 200:
            raise MigrateError(f"S3 event feed at {self.url}: HTTP {response.status_code}")
        try:
            document = response.json()
            return {"events": list(document["events"]), "next": int(document["next"])}
        except (ValueError, KeyError, TypeError):
            raise MigrateError(f"S3 event feed at {self.url}: not a feed answer") from None

    def open(self) -> None:
        self._next = self._get(at="end")["next"]

    def poll(self, wait_seconds: int) -> Announcement:
        announced = Announcement()
        with self._lock:
            answer = self._get(after=self._next, wait=wait_seconds)
            self._next = answer["next"]
        _announce(announced, answer["events"], self.buckets, url_encoded_keys=False)
        return announced

    def ack(self, announced: Announcement) -> None:
        """Nothing to acknowledge: the reader's offset moved when the events were read."""

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def _epoch(stamp: object) -> float | None:
    """An event's ``eventTime`` (ISO 8601, e.g. 2026-11-25T18:56:26.210Z) as epoch seconds."""
    from datetime import datetime

    try:
        return datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _reason(exc: BaseException) -> str:
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'error')}: {error.get('Message', '')}".rstrip(": ")
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
