"""The one reading of a provider REST API's answer: its JSON body, or one line naming the call."""

from __future__ import annotations

from collections.abc import Callable
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
