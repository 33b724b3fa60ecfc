"""Keep a standby's media in step with its source: one incremental sync pass after another.

Logical replication carries rows, not objects. Without this, every upload since the last copy
exists only at the source and dies with it. A follower bounds that loss: whatever the source
held when a pass began is at the destination when the pass ends, so at any moment the media at
risk is what arrived since the start of the last finished pass (``lag_seconds``).

Listing is what a pass costs (an S3 server serialises every listed object; moto spends ~0.3 ms
of CPU on each), so an ordinary pass lists only the SOURCE and compares it with what the
follower knows the destination holds: the destination's listing from the last full pass plus
every object the follower has written since (size and ETag as the PUT returned them). That
halves the listing work of a pass, and the window of uploads at risk with it. The price: an
object deleted or altered at the destination behind the follower's back (by a person, a
lifecycle rule, another tool) is not noticed by an ordinary pass, only by the next FULL pass,
which re-lists the destination too: every ``full_every`` passes or ``full_seconds`` seconds,
whichever comes first, and always the first pass and the one after a failure (whose partial
writes the follower cannot account for). The follower is then never more than one full-pass
period behind on such damage, and never wrong about what it wrote itself.

With ``events`` the follower also copies each object the moment the source announces it (S3
event notifications into an SQS queue, ``follow_events``): threads of their own wait on the
queue, so an upload is at risk for the notification's latency plus one copy, not for a pass or
two. A pass under way skips what they copied. The listing passes remain the safety net for lost
or late notifications.
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
    from migrate.data.endpoints import S3Endpoint
    from migrate.data.follow_events import EventFeed
    from migrate.data.stores import ObjectInfo, S3Store
    from migrate.outputs import TargetOutputs
    from migrate.spec.model import ServiceSpec


@dataclass
class FollowState:
    """What the follower has achieved so far; written after every pass for anyone watching."""

    source: str
    dest: str
    passes: int = 0
    failed_passes: int = 0
    full_passes: int = 0  # good passes that re-listed the destination too
    events: str = "off"  # "on", "off", or why the source's notifications could not be used
    copied_on_events: int = 0  # of objects_copied, those copied as the source announced them
    failed_event_copies: int = 0
    # Seconds from an announced object's event time to its copy's end (the oldest of each batch).
    announced_lags: list[float] = field(default_factory=list, repr=False)
    objects_copied: int = 0
    bytes_copied: int = 0
    last_pass_seconds: float | None = None
    synced_as_of: float | None = None  # wall time the last good pass began: the source then is at dest now
    last_error: str = ""
    history: list[float] = field(default_factory=list, repr=False)  # recent good passes' durations

    @property
    def lag_seconds(self) -> float | None:
        return None if self.synced_as_of is None else max(0.0, time.time() - self.synced_as_of)

    def to_json(self) -> dict[str, object]:
        import statistics

        document = asdict(self)
        del document["history"]
        del document["announced_lags"]
        lag = self.lag_seconds
        document["lag_seconds"] = None if lag is None else round(lag, 3)
        # Good passes only: a pass failing against a dead source (connection retries) bounds nothing.
        document["slowest_pass_seconds"] = round(max(self.history), 3) if self.history else None
        document["median_pass_seconds"] = round(statistics.median(self.history), 3) if self.history else None
        if self.announced_lags:
            document["slowest_announced_copy_seconds"] = round(max(self.announced_lags), 3)
            document["median_announced_copy_seconds"] = round(statistics.median(self.announced_lags), 3)
        return document


def write_state(path: Path, state: FollowState) -> None:
    """Atomically, so a reader never sees half a document."""
    scratch = path.with_suffix(".tmp")
    scratch.write_text(json.dumps(state.to_json()))
    os.replace(scratch, path)


# A full pass (destination re-listed) at least this often: damage at the destination is
# repaired within a minute, at the cost of one pass in fifty listing twice as much.
FULL_EVERY = 50
FULL_SECONDS = 60.0
EVENTS_MODES = ("off", "on", "auto")  # auto: use notifications where the source offers them
# With notifications on, listing passes are the safety net: one every this many seconds at least.
EVENTS_PASS_INTERVAL = 5.0
# Threads taking announced objects off the queue, each polling then copying what it got: while one
# copies, others poll, so a burst of uploads does not wait for the batch before it.
ANNOUNCERS = 4


def follow_media(
    spec: ServiceSpec | None,
    source: TargetOutputs,
    dest: TargetOutputs,
    *,
    interval: float,
    stop: threading.Event,
    max_passes: int | None = None,
    workers: int = 16,
    full_every: int = FULL_EVERY,
    full_seconds: float = FULL_SECONDS,
    events: str = "off",
    on_pass: Callable[[FollowState], None] | None = None,
    on_announced: Callable[[FollowState], None] | None = None,
) -> FollowState:
    """Sync every media bucket source → dest, pass after pass, until ``stop`` is set.

    Ordinary passes list the source only (see the module docstring); a full pass, which
    re-lists the destination, comes every ``full_every`` passes or ``full_seconds`` seconds.
    ``events`` (``EVENTS_MODES``): also copy objects as the source announces them, in threads
    of their own (a pass under way does not delay them); "on" fails (MigrateError) where the
    source cannot announce them, "auto" then follows by passes alone. With notifications on,
    passes come every ``max(interval, EVENTS_PASS_INTERVAL)`` seconds. ``on_pass`` is called
    after every pass, ``on_announced`` after copying announced objects (never both at once).
    A failed pass (the source flapping or already gone) is recorded and retried at the next
    interval: the follower never deletes at the destination and never gives up on its own.
    """
    from migrate.data.endpoints import bucket_pairs, s3_endpoint
    from migrate.data.stores import S3Store

    state = FollowState(source.target, dest.target)
    src_s3, dst_s3 = s3_endpoint(source), s3_endpoint(dest)
    pairs = [(S3Store(src_s3, a), S3Store(dst_s3, b)) for _name, a, b in bucket_pairs(spec, source, dest)]
    follower = _Follower(pairs, state, stop, workers, on_pass, on_announced)
    feed = _open_feed(events, src_s3, pairs, state)
    announcers: list[threading.Thread] = []
    try:
        if feed is not None:
            interval = max(interval, EVENTS_PASS_INTERVAL)
            announcers = [
                threading.Thread(target=follower.copy_announced, args=(feed,), name=f"follow-events-{n}", daemon=True)
                for n in range(ANNOUNCERS)
            ]
            for announcer in announcers:
                announcer.start()
        follower.passes(interval, max_passes, full_every, full_seconds)
    finally:
        follower.done.set()
        for announcer in announcers:
            announcer.join(timeout=30)
        if feed is not None:
            feed.close()
    return state


def _open_feed(
    events: str, endpoint: S3Endpoint, pairs: list[tuple[S3Store, S3Store]], state: FollowState
) -> EventFeed | None:
    """The source's notifications as ``events`` asks (None: follow by passes alone)."""
    from migrate.data.follow_events import EventFeed
    from migrate.errors import MigrateError

    if events == "off":
        return None
    feed = EventFeed.for_pair(endpoint, sorted({src.bucket for src, _ in pairs}), pairs[0][0].label, pairs[0][1].label)
    try:
        feed.open()
    except MigrateError as exc:
        if events == "on":
            raise
        state.events = f"unavailable: {exc}"
        return None
    state.events = "on"
    return feed


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


class _Follower:
    """The pass loop and the announced-object copiers, sharing what the destination is known to hold.

    ``known`` (per pair, None until a pass succeeds and after any failure) is replaced by each
    pass's result, and objects copied on notification are added to it in place (under ``lock``),
    so a pass under way sees them and does not copy them a second time (``sync_objects`` allows
    its ``dest_listing`` to grow while it runs). They are also kept apart and laid over the
    pass's result, so the pass cannot forget them. Queues deliver at least once, so the same
    announcement may reach two announcers at once: ``in_flight`` (per pair, key and ETag being
    copied) lets only one of them copy it.
    """

    def __init__(
        self,
        pairs: list[tuple[S3Store, S3Store]],
        state: FollowState,
        stop: threading.Event,
        workers: int,
        on_pass: Callable[[FollowState], None] | None,
        on_announced: Callable[[FollowState], None] | None,
    ) -> None:
        self.pairs, self.state, self.stop, self.workers = pairs, state, stop, workers
        self.on_pass, self.on_announced = on_pass, on_announced
        self.lock = threading.Lock()
        self.report_lock = threading.Lock()  # callbacks one at a time (they write one status file)
        self.done = threading.Event()
        self.known: list[dict[str, ObjectInfo]] | None = None
        self.during_pass: list[dict[str, ObjectInfo]] = [{} for _ in pairs]
        self.in_flight: list[set[tuple[str, str]]] = [set() for _ in pairs]

    def passes(self, interval: float, max_passes: int | None, full_every: int, full_seconds: float) -> None:
        from migrate.data.media import sync_objects

        state = self.state
        since_full, full_at = 0, 0.0  # passes since the last full one (counting it), and when it began
        while not self.stop.is_set() and (max_passes is None or state.passes + state.failed_passes < max_passes):
            began_wall, began = time.time(), time.monotonic()
            with self.lock:
                known = self.known
                self.during_pass = [{} for _ in self.pairs]
            full = known is None or since_full >= full_every or began - full_at >= full_seconds
            ok = False
            try:
                listings = []
                for index, (src_store, dst_store) in enumerate(self.pairs):
                    result = sync_objects(
                        src_store,
                        dst_store,
                        workers=self.workers,
                        create_dest=True,
                        dest_listing=None if full or known is None else known[index],
                    )
                    listings.append(result.dest_listing)
                    with self.lock:
                        state.objects_copied += result.copied
                        state.bytes_copied += result.bytes_copied
            except Exception as exc:
                with self.lock:
                    self.known = None  # what the failed pass wrote is unaccounted for: the next pass is full
                    state.failed_passes += 1
                    state.last_error = _error(exc)
            else:
                with self.lock:
                    self.known = [{**listing, **late} for listing, late in zip(listings, self.during_pass, strict=True)]
                    state.passes += 1
                    state.synced_as_of = began_wall
                    state.last_error = ""
                ok = True
                since_full = 1 if full else since_full + 1
                if full:
                    full_at = began
                    state.full_passes += 1
            state.last_pass_seconds = round(time.monotonic() - began, 3)
            if ok:
                state.history = [*state.history[-99:], state.last_pass_seconds]
            self._report(self.on_pass)
            if max_passes is not None and state.passes + state.failed_passes >= max_passes:
                return
            self.stop.wait(max(0.0, interval - (time.monotonic() - began)))

    def copy_announced(self, feed: EventFeed) -> None:
        """Copy each object the source announces, compared with what the destination is known to hold.

        By the same rules as a pass (``sync_objects`` with both listings given: nothing is listed,
        every read is checked against the announced ETag); the messages are deleted only once their
        objects are copied. Waits for the first good pass; a failed copy makes the next pass full;
        a failing queue (the source gone) is retried each second. Several run at once (``ANNOUNCERS``).
        """
        from migrate.data.media import sync_objects

        index_of = {src.bucket: index for index, (src, _) in enumerate(self.pairs)}
        state = self.state
        while not (self.stop.is_set() or self.done.is_set()):
            with self.lock:
                known = self.known
            if known is None:  # before the first pass, or after a failure: notifications wait in the queue
                self.done.wait(0.05)
                continue
            try:
                announced = feed.poll(1)
                for bucket, announced_objects in announced.objects.items():
                    index = index_of[bucket]
                    src_store, dst_store = self.pairs[index]
                    objects, held_now = self._claim(index, announced_objects, known[index])
                    if not objects:  # all of them are being copied by another announcer
                        continue
                    try:
                        result = sync_objects(
                            src_store, dst_store, workers=self.workers, dest_listing=held_now, source_listing=objects
                        )
                    except BaseException:
                        with self.lock:
                            self._release(index, objects)
                        raise
                    held = {key: result.dest_listing[key] for key in objects if key in result.dest_listing}
                    with self.lock:  # known before released: a duplicate claimed next finds it there
                        self._release(index, objects)
                        if self.known is not None:
                            self.known[index].update(held)
                        self.during_pass[index].update(held)
                        state.objects_copied += result.copied
                        state.copied_on_events += result.copied
                        state.bytes_copied += result.bytes_copied
                feed.ack(announced)
                if announced.objects:
                    if announced.oldest is not None:
                        lag = max(0.0, time.time() - announced.oldest)
                        with self.lock:
                            state.announced_lags = [*state.announced_lags[-999:], lag]
                    self._report(self.on_announced)
            except Exception as exc:
                with self.lock:
                    self.known = None
                    state.failed_event_copies += 1
                    state.last_error = _error(exc)
                self.done.wait(1.0)

    def _claim(
        self, index: int, announced: dict[str, ObjectInfo], snapshot: dict[str, ObjectInfo]
    ) -> tuple[dict[str, ObjectInfo], dict[str, ObjectInfo]]:
        """Those of ``announced`` no other announcer is copying now, marked as being copied, and
        what the destination is known to hold now (``snapshot``, taken before the poll, if a
        failure has since forgotten it: a pass may have replaced it while the poll waited).

        A duplicate skipped here is safe to ack: the first copy's own message stays on the queue
        until that copy succeeds, and a failed copy makes the next pass full."""
        with self.lock:
            claimed = {key: obj for key, obj in announced.items() if (key, obj.etag) not in self.in_flight[index]}
            self.in_flight[index].update((obj.key, obj.etag) for obj in claimed.values())
            return claimed, snapshot if self.known is None else self.known[index]

    def _release(self, index: int, objects: dict[str, ObjectInfo]) -> None:
        """Called under ``lock`` once ``objects``' copy is over, in success or failure."""
        self.in_flight[index].difference_update((obj.key, obj.etag) for obj in objects.values())

    def _report(self, callback: Callable[[FollowState], None] | None) -> None:
        if callback is not None:
            with self.report_lock:
                callback(self.state)
