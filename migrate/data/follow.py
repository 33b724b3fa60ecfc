"""Keep a standby's media in step with its source: one incremental sync pass after another.

Logical replication carries rows, not objects. Without this, every upload since the last copy
exists only at the source and dies with it. A follower bounds that loss: whatever the source
held when a pass began is at the destination when the pass ends, so at any moment the media at
risk is what arrived since the start of the last finished pass (``lag_seconds``).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from migrate.outputs import TargetOutputs
    from migrate.spec.model import ServiceSpec


@dataclass
class FollowState:
    """What the follower has achieved so far; written after every pass for anyone watching."""

    source: str
    dest: str
    passes: int = 0
    failed_passes: int = 0
    objects_copied: int = 0
    bytes_copied: int = 0
    last_pass_seconds: float | None = None
    synced_as_of: float | None = None  # wall time the last good pass began: the source then is at dest now
    last_error: str = ""
    history: list[float] = field(default_factory=list, repr=False)  # recent pass durations

    @property
    def lag_seconds(self) -> float | None:
        return None if self.synced_as_of is None else max(0.0, time.time() - self.synced_as_of)

    def to_dict(self) -> dict[str, object]:
        document = asdict(self)
        del document["history"]
        lag = self.lag_seconds
        document["lag_seconds"] = None if lag is None else round(lag, 3)
        document["slowest_pass_seconds"] = round(max(self.history), 3) if self.history else None
        return document


def write_state(path: Path, state: FollowState) -> None:
    """Atomically, so a reader never sees half a document."""
    scratch = path.with_suffix(".tmp")
    scratch.write_text(json.dumps(state.to_dict()))
    os.replace(scratch, path)


def follow_media(spec: ServiceSpec | None, source: TargetOutputs, dest: TargetOutputs, *, interval: float,
                 stop: threading.Event, max_passes: int | None = None, workers: int = 16,
                 on_pass: Callable[[FollowState], None] | None = None) -> FollowState:
    """Sync every media bucket source → dest, pass after pass, until ``stop`` is set.

    A failed pass (the source flapping or already gone) is recorded and retried at the next
    interval: the follower never deletes at the destination and never gives up on its own.
    """
    from migrate.data.endpoints import bucket_pairs, s3_endpoint
    from migrate.data.media import sync_objects
    from migrate.data.stores import S3Store

    state = FollowState(source.target, dest.target)
    src_s3, dst_s3 = s3_endpoint(source), s3_endpoint(dest)
    pairs = [(S3Store(src_s3, a), S3Store(dst_s3, b)) for _name, a, b in bucket_pairs(spec, source, dest)]
    while not stop.is_set() and (max_passes is None or state.passes + state.failed_passes < max_passes):
        began_wall, began = time.time(), time.monotonic()
        try:
            for src_store, dst_store in pairs:
                result = sync_objects(src_store, dst_store, workers=workers, create_dest=True)
                state.objects_copied += result.copied
                state.bytes_copied += result.bytes_copied
        except Exception as exc:
            state.failed_passes += 1
            state.last_error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        else:
            state.passes += 1
            state.synced_as_of = began_wall
            state.last_error = ""
        state.last_pass_seconds = round(time.monotonic() - began, 3)
        state.history = [*state.history[-99:], state.last_pass_seconds]
        if on_pass is not None:
            on_pass(state)
        stop.wait(max(0.0, interval - (time.monotonic() - began)))
    return state
