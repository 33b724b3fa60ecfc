"""Connection details for one side of a move, built from a target's stack outputs."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pydantic import SecretStr

from migrate.errors import InputError
from migrate.redact import register_secret

if TYPE_CHECKING:
    from migrate.outputs import TargetOutputs
    from migrate.spec.model import ServiceSpec


@dataclass(frozen=True)
class S3Endpoint:
    """An S3-compatible service. ``url`` None means AWS itself (boto3's default endpoint)."""

    url: str | None
    region: str = "us-east-1"
    access_key: SecretStr | None = None
    secret_key: SecretStr | None = None

    @property
    def label(self) -> str:
        """Safe to print: the endpoint without credentials."""
        return self.url or f"aws:{self.region}"

    def client(self, max_connections: int = 32) -> Any:
        """A thread-safe S3 client, tuned for bulk copies (no redundant checksums or hashing).

        Built on a bare botocore session (boto3 adds ~0.2 s of imports and nothing we use).
        Integrity comes from our own checks: every PUT's ETag is compared with the MD5 we
        computed, so botocore's CRC32s and its SHA-256 of every request body (payload signing,
        which it does over plain http) would only hash each byte again.
        """
        from botocore.config import Config

        for secret in (self.access_key, self.secret_key):
            if secret is not None:
                register_secret(secret.get_secret_value())
        config = Config(
            s3={"addressing_style": "path", "payload_signing_enabled": False},
            retries={"max_attempts": 5, "mode": "standard"},
            max_pool_connections=max_connections,
            connect_timeout=5,
            read_timeout=120,
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        return _session().create_client(
            "s3",
            endpoint_url=self.url,
            region_name=self.region,
            aws_access_key_id=self.access_key.get_secret_value() if self.access_key else None,
            aws_secret_access_key=self.secret_key.get_secret_value() if self.secret_key else None,
            config=config,
        )


@cache
def _session() -> Any:
    """One botocore session for every client (it caches the service models it loads).

    Timestamps stay strings: we never read them, and parsing one per listed object with
    dateutil is a noticeable share of a listing's cost.
    """
    import botocore.session

    session = botocore.session.get_session()
    session.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=str)
    return session


@dataclass(frozen=True)
class PgEndpoint:
    """A Postgres database reached by URL (the app user's, from stack outputs)."""

    url: SecretStr
    name: str = "postgres"

    @property
    def dsn(self) -> str:
        value = self.url.get_secret_value()
        register_secret(value)
        parts = urlsplit(value)
        if parts.password:
            register_secret(parts.password)
        return value

    @property
    def label(self) -> str:
        """host:port/database, safe to print."""
        parts = urlsplit(self.url.get_secret_value())
        return f"{parts.hostname}:{parts.port or 5432}{parts.path}"

    @property
    def user(self) -> str:
        return urlsplit(self.url.get_secret_value()).username or "postgres"

    @property
    def database(self) -> str:
        return urlsplit(self.url.get_secret_value()).path.lstrip("/") or "postgres"


def postgres_endpoint(outputs: TargetOutputs) -> PgEndpoint:
    if outputs.database_url is None:
        raise InputError(f"target {outputs.target}: its outputs have no database_url")
    return PgEndpoint(outputs.database_url, name=outputs.target)


def s3_endpoint(outputs: TargetOutputs) -> S3Endpoint:
    from providers.registry import hosting_adapter

    if not outputs.s3_endpoint and not hosting_adapter(outputs.provider).default_s3_endpoint:
        raise InputError(f"target {outputs.target}: its outputs have no s3_endpoint")
    return S3Endpoint(outputs.s3_endpoint, outputs.s3_region, outputs.s3_access_key, outputs.s3_secret_key)


def bucket_pairs(spec: ServiceSpec | None, source: TargetOutputs, dest: TargetOutputs) -> list[tuple[str, str, str]]:
    """(spec bucket, source bucket, destination bucket) for every bucket the spec declares.

    Without a spec (or without media in it), every bucket the source outputs name.
    """
    names = [b.name for b in spec.media.buckets] if spec and spec.media else sorted(source.s3_buckets)
    return [(name, source.s3_buckets.get(name, name), dest.s3_buckets.get(name, name)) for name in names]
