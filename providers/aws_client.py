"""One boto3 client per AWS-backed provider, and the throttling backoff they all need.

Route 53 and Route 53 Domains share this: credentials from the spec's secret references (else
the usual AWS chain or a profile), botocore's adaptive retries, and our own longer backoff
for the throttling codes AWS answers under load.
"""

from __future__ import annotations

import time
from typing import Any

AWS_THROTTLED = frozenset(
    {"Throttling", "ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded", "PriorRequestNotComplete"}
)


def aws_client(service: str, settings: Any, *, secret_label: str, max_attempts: int) -> Any:
    """A boto3 client for ``service`` from provider settings (region, endpoint_url, profile, keys)."""
    import boto3
    from botocore.config import Config

    kwargs: dict[str, Any] = {}
    if settings.access_key_id is not None and settings.secret_access_key is not None:
        kwargs["aws_access_key_id"] = settings.access_key_id.resolve(f"{secret_label}.access_key_id")
        kwargs["aws_secret_access_key"] = settings.secret_access_key.resolve(f"{secret_label}.secret_access_key")
    session = boto3.session.Session(profile_name=settings.profile) if settings.profile else boto3
    return session.client(
        service,
        region_name=settings.region,
        endpoint_url=settings.endpoint_url,
        config=Config(retries={"max_attempts": max_attempts, "mode": "adaptive"}),
        **kwargs,
    )


def call_with_backoff(
    client: Any, method: str, kwargs: dict[str, Any], *, attempts: int, error: type[Exception], who: str
) -> Any:
    """Call ``client.method(**kwargs)``, sleeping 0.5 s, 1 s, 2 s … (at most 10 s) while throttled.

    No answer at all (a ``BotoCoreError``: endpoint, credentials) raises ``error``, one line
    naming ``who`` and the method; any other ClientError, or the last throttling one, is
    raised for the caller to explain.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    delay = 0.5
    for attempt in range(attempts):
        try:
            return getattr(client, method)(**kwargs)
        except BotoCoreError as exc:
            raise error(f"{who}: {method}: {exc}") from None
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code", "") not in AWS_THROTTLED or attempt == attempts - 1:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 10)
    raise AssertionError("unreachable")
