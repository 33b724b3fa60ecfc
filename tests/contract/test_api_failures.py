"""The shared ways a provider's API call fails: one line naming the account, the method and
the path (the helpers the DNS providers, registrars and terminations share)."""

from __future__ import annotations

import httpx
import pytest

from migrate.errors import DnsProviderError, RegistrarError
from providers.aws_client import call_with_backoff
from providers.http_retry import request_rate_limited


def test_a_429_after_the_last_wait_is_the_callers_error() -> None:
    sent: list[str] = []

    def throttled(request: httpx.Request) -> httpx.Response:
        sent.append(request.url.path)
        return httpx.Response(429, headers={"Retry-After": "0"})

    client = httpx.Client(base_url="https://api.test", transport=httpx.MockTransport(throttled))
    with pytest.raises(DnsProviderError, match=r"^cf: GET /zones: still rate-limited after 2 retries$"):
        request_rate_limited(client, "GET", "/zones", retries=2, error=DnsProviderError, who="cf")
    assert sent == ["/zones"] * 3


def test_a_429_then_an_answer_returns_the_answer() -> None:
    answers = iter([httpx.Response(429, headers={"Retry-After": "0"}), httpx.Response(200, json={"ok": 1})])
    client = httpx.Client(base_url="https://api.test", transport=httpx.MockTransport(lambda _request: next(answers)))
    response = request_rate_limited(client, "GET", "/x", retries=1, error=DnsProviderError, who="cf")
    assert response.json() == {"ok": 1}


def test_no_answer_is_the_callers_error_naming_the_call() -> None:
    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client = httpx.Client(base_url="https://api.test", transport=httpx.MockTransport(unreachable))
    with pytest.raises(RegistrarError, match=r"^registrar g: PUT /d: connection refused$"):
        request_rate_limited(client, "PUT", "/d", retries=3, error=RegistrarError, who="registrar g")


def test_an_aws_call_without_an_answer_is_the_callers_error() -> None:
    """A real botocore client, pointed at a loopback port nothing listens on."""
    import boto3
    from botocore.config import Config

    from providers.local.servers.process import free_port

    client = boto3.client(
        "route53",
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 1}, connect_timeout=2),
    )
    with pytest.raises(DnsProviderError, match=r"^r53: list_hosted_zones: Could not connect .*127\.0\.0\.1"):
        call_with_backoff(client, "list_hosted_zones", {}, attempts=3, error=DnsProviderError, who="r53")
