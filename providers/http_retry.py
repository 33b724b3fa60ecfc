"""HTTP requests to SaaS APIs that rate-limit: wait out a 429 as the API asks, then send again.

Cloudflare and Gandi both answer 429 with Retry-After; one helper so both wait the same way.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

MAX_WAIT_SECONDS = 60.0


def request_rate_limited(
    client: httpx.Client, method: str, path: str, *, retries: int, error: type[Exception], who: str, **kwargs: Any
) -> httpx.Response:
    """The first answer that is not a 429, after at most ``retries`` waits. No answer at all, or
    a 429 still after the last wait, raises ``error``: one line naming ``who``, the method and path."""
    where = f"{who}: {method} {path}"
    for attempt in range(retries + 1):
        try:
            response = client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise error(f"{where}: {exc}") from None
        if response.status_code != 429:
            return response
        if attempt == retries:
            break
        time.sleep(min(float(response.headers.get("Retry-After", "1")), MAX_WAIT_SECONDS))
    raise error(f"{where}: still rate-limited after {retries} retries")
