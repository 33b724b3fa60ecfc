"""HTTP requests to SaaS APIs that rate-limit: wait out a 429 as the API asks, then send again.

Cloudflare and Gandi both answer 429 with Retry-After; one helper so both wait the same way.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

MAX_WAIT_SECONDS = 60.0


def request_rate_limited(
    client: httpx.Client, method: str, path: str, *, retries: int, **kwargs: Any
) -> httpx.Response:
    """The first answer that is not a 429, or the last 429 after ``retries`` waits.

    Transport errors (``httpx.HTTPError``) are the caller's to explain.
    """
    for attempt in range(retries + 1):
        response = client.request(method, path, **kwargs)
        if response.status_code != 429 or attempt == retries:
            return response
        time.sleep(min(float(response.headers.get("Retry-After", "1")), MAX_WAIT_SECONDS))
    raise AssertionError("unreachable")
