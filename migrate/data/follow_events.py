"""Object-created notifications of the source's media buckets, for the follower to copy at once.

S3 event notifications (``PutBucketNotificationConfiguration``) into an SQS queue at the same
endpoint: AWS itself, and moto in server mode (both services on one port). Most S3-compatible
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
        from migrate.data.stores import ObjectInfo

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
            for record in records:
                s3 = record.get("s3", {})
                bucket, obj = s3.get("bucket", {}).get("name"), s3.get("object", {})
                if not str(record.get("eventName", "")).startswith("ObjectCreated") or bucket not in self.buckets:
                    continue
                key = unquote_plus(obj.get("key", ""))
                at = _epoch(record.get("eventTime"))
                if at is not None and (announced.oldest is None or at < announced.oldest):
                    announced.oldest = at
                announced.objects.setdefault(bucket, {})[key] = ObjectInfo(
                    key, int(obj.get("size", 0)), str(obj.get("eTag", "")).strip('"')
                )
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
