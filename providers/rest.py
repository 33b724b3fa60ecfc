"""Provider REST APIs: the bearer client, and one line for any failure (no answer, or an error answer)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from migrate.errors import MigrateError


def message_field(body: dict[str, Any]) -> str:
    """``{"message": …}``: DigitalOcean's and Kubernetes' error shape."""
    return str(body.get("message", ""))


def checked_json(
    response: httpx.Response, api: str, detail: Callable[[dict[str, Any]], str] = message_field
) -> dict[str, Any]:
    """The body of a successful answer; an error answer raises naming the API, method, path,
    status and the provider's own message (never the request's headers: they carry the token)."""
    if response.is_error:
        try:
            said = detail(response.json())
        except (ValueError, AttributeError):
            said = ""
        call = f"{api} API {response.request.method} {response.request.url.path}"
        raise MigrateError(f"{call}: HTTP {response.status_code} {said}".rstrip())
    body: dict[str, Any] = response.json() if response.content else {}
    return body


def bearer_client(
    base_url: str, token: str, *, timeout: float = 15.0, transport: httpx.BaseTransport | None = None, **options: Any
) -> httpx.Client:
    """A client of an API that takes a bearer token (``Authorization: Bearer``)."""
    headers = {"Authorization": f"Bearer {token}"}
    return httpx.Client(base_url=base_url, headers=headers, timeout=timeout, transport=transport, **options)


@contextmanager
def named_failures(what: str, error: type[Exception] = MigrateError) -> Iterator[None]:
    """A transport failure (no answer at all) as one line, ``what: Type: message``."""
    try:
        yield
    except httpx.HTTPError as exc:
        raise error(f"{what}: {type(exc).__name__}: {exc}") from None
