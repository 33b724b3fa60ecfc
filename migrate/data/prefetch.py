"""Bucket listings started before the CLI has loaded, taken later by the store that needs them.

Why: a media command's first act is listing both buckets, which keeps each S3 server busy for
a second or more per few thousand objects, while Python spends ~0.3 s loading the CLI (typer,
pydantic, rich) before the command could ask. Started first, the servers list while Python
loads. A listing is taken at most once, by a store with the same endpoint, credentials, bucket
and prefix; one nobody takes is simply dropped. Its pages, and any error it met, reach the
taker exactly as a listing made on the spot would give them.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator

from migrate.data import s3_http

Page = list[tuple[str, int, str]]
_DONE = object()
_started: dict[tuple[str, str, str, str, str, str], queue.SimpleQueue[object]] = {}
_lock = threading.Lock()


def _key(endpoint: s3_http.Endpoint, bucket: str, prefix: str) -> tuple[str, str, str, str, str, str]:
    return endpoint.base, endpoint.region, endpoint.access_key, endpoint.secret_key, bucket, prefix


def start(endpoint: s3_http.Endpoint, bucket: str, prefix: str = "") -> None:
    """List ``bucket`` in the background, page by page (``s3_http.list_pages``)."""
    pages: queue.SimpleQueue[object] = queue.SimpleQueue()

    def run() -> None:
        try:
            for page in s3_http.list_pages(endpoint, bucket, prefix):
                pages.put(page)
        except BaseException as exc:  # handed to the taker, raised there
            pages.put(exc)
        pages.put(_DONE)

    with _lock:
        _started[_key(endpoint, bucket, prefix)] = pages
    threading.Thread(target=run, name=f"prefetch {bucket}", daemon=True).start()


def take(endpoint: s3_http.Endpoint, bucket: str, prefix: str) -> Iterator[Page] | None:
    """The pages of a listing started for exactly this bucket, or None if none was."""
    with _lock:
        pages = _started.pop(_key(endpoint, bucket, prefix), None)
    return None if pages is None else _drain(pages)


def _drain(pages: queue.SimpleQueue[object]) -> Iterator[Page]:
    while (item := pages.get()) is not _DONE:
        if isinstance(item, BaseException):
            raise item
        yield item  # type: ignore[misc]
