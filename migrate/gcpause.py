"""Pause Python's cyclic garbage collector while a big, acyclic structure is built.

Loading a spec that lists 9,000 DNS records, reading a 10,000-record zone transfer or
building the JSON of 18,000 changes creates hundreds of thousands of dicts, lists and
tuples that all stay alive: every few thousand allocations the collector scans them,
finds nothing to free, and the scans cost as much as the work itself (half the time of
a spec load). Reference counting still frees everything as usual while paused; only the
search for reference cycles waits until the outermost pause ends.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_depth = 0
_was_enabled = False
_freeze = False


def freeze_after_pauses() -> None:
    """For a short-lived process (the CLI): when a pause ends, move what was built to the
    permanent generation (``gc.freeze``) instead of letting the next collection scan it all
    once more. Only for processes that end soon: frozen objects are never scanned again,
    so a reference cycle among them would never be freed."""
    global _freeze
    _freeze = True


@contextmanager
def paused_gc() -> Iterator[None]:
    """No cyclic collection inside (nestable, from any thread); the previous state after."""
    global _depth, _was_enabled
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                if _freeze:
                    gc.freeze()
                if _was_enabled:
                    gc.enable()
