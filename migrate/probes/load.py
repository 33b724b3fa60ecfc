"""The drill's write load: the spec's probes sent at a steady rate, every outcome one JSON line.

    python -m migrate.probes.load --config FILE --out FILE

FILE (written by the drill, no secrets in it) holds the probes, the front's URL and Host header,
the rate and how often a write is an upload. Lines: ``{"event": "start", "run"}``, then per
write ``{"event": "ack", "kind": "write"|"upload", "seq", "token", "sent_at", "acked_at",
"values": {captured}}`` once the app acknowledged it, or ``{"event": "error", "seq", "kind",
"sent_at", "error"}``. Flushed line by line: a killed runner loses nothing it acknowledged.
The target dying is expected: errors are counted and the schedule keeps going until SIGTERM.
Until the setup requests succeed, each tick retries them instead of writing (a target down from
the start shows as errors, not silence). Timestamps are Unix epoch seconds, like the drill's.
"""

from __future__ import annotations

import argparse
import json
import queue
import signal
import sys
import threading
import time
import uuid
from pathlib import Path
from types import FrameType
from typing import IO, Any

from migrate.probes.http import client_for, send
from migrate.spec.probes import Probes


def shareable(values: dict[str, Any]) -> dict[str, Any]:
    """Setup captures fit for the run's files: not ``run``, nothing that looks like a credential."""
    from migrate.spec.inline import name_looks_secret, secret_shape

    return {
        key: value
        for key, value in values.items()
        if key != "run" and not name_looks_secret(key) and not secret_shape(str(value))
    }


class Recorder:
    """One JSON line per event, thread-safe, flushed at once."""

    def __init__(self, out: IO[str]) -> None:
        self.out, self.lock = out, threading.Lock()
        self.acked = self.errors = self.missed = 0

    def write(self, record: dict[str, Any]) -> None:
        with self.lock:
            if record["event"] == "ack":
                self.acked += 1
            elif record["event"] == "error":
                self.errors += 1
            self.out.write(json.dumps(record, default=str) + "\n")
            self.out.flush()


class Runner:
    def __init__(self, probes: Probes, recorder: Recorder, *, image_every: int, run: str) -> None:
        self.probes, self.recorder, self.run = probes, recorder, run
        self.image_every = image_every if probes.upload is not None else 0
        self.setup_values: dict[str, Any] | None = None if probes.setup else {}
        self.setup_lock = threading.Lock()

    def kind_of(self, seq: int) -> str:
        every = self.image_every
        return "upload" if every and seq % every == every - 1 else "write"

    def _setup(self, client: Any, seq: int, sent_at: float) -> bool:
        with self.setup_lock:
            if self.setup_values is not None:
                return True
            values: dict[str, Any] = {"run": self.run}
            for index, request in enumerate(self.probes.setup):
                outcome = send(client, request, values)
                if not outcome.ok:
                    self.recorder.write(
                        {
                            "event": "error",
                            "seq": seq,
                            "kind": "setup",
                            "sent_at": round(sent_at, 6),
                            "error": f"setup {index + 1}: {outcome.error}",
                        }
                    )
                    return False
                values.update(outcome.captured)
            self.setup_values = values
            # The read-back at the destination needs what setup captured (a room, a user's id);
            # a value whose name or shape says secret is not written (read_setup gets it on B).
            self.recorder.write({"event": "setup", "values": shareable(values)})
            return True

    def one(self, client: Any, seq: int) -> None:
        sent_at = time.time()
        if self.setup_values is None and not self._setup(client, seq, sent_at):
            return
        kind = self.kind_of(seq)
        token = uuid.uuid4().hex
        values = {**(self.setup_values or {}), "run": self.run, "seq": seq, "token": token}
        request = self.probes.upload if kind == "upload" and self.probes.upload else self.probes.write
        outcome = send(client, request, values)
        if outcome.ok:
            self.recorder.write(
                {
                    "event": "ack",
                    "kind": kind,
                    "seq": seq,
                    "token": token,
                    "sent_at": round(sent_at, 6),
                    "acked_at": round(time.time(), 6),
                    "values": outcome.captured,
                }
            )
        else:
            self.recorder.write(
                {"event": "error", "seq": seq, "kind": kind, "sent_at": round(sent_at, 6), "error": outcome.error}
            )


def run_load(config: dict[str, Any], out: IO[str], stop: threading.Event, duration: float | None = None) -> Recorder:
    """Send ``config['rate']`` writes a second until ``stop`` is set (or ``duration`` ends)."""
    probes = Probes.model_validate(config["probes"])
    rate = float(config["rate"])
    threads = int(config.get("threads") or max(4, min(64, int(rate))))
    recorder = Recorder(out)
    run = str(config.get("run") or uuid.uuid4().hex[:12])
    recorder.write({"event": "start", "run": run, "at": round(time.time(), 6), "rate": rate})
    runner = Runner(
        probes,
        recorder,
        image_every=int(config.get("image_every", probes.upload.every if probes.upload else 0)),
        run=run,
    )
    ticks: queue.Queue[int | None] = queue.Queue(maxsize=threads * 2)
    deadline = time.monotonic() + duration if duration else float("inf")
    with client_for(config["base_url"], config.get("host"), probes.timeout_seconds, threads) as client:

        def worker() -> None:
            while (seq := ticks.get()) is not None:
                runner.one(client, seq)

        pool = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
        for thread in pool:
            thread.start()
        start, seq = time.monotonic(), 0
        while not stop.is_set():
            due = start + seq / rate
            if due >= deadline or stop.wait(max(0.0, due - time.monotonic())):
                break
            try:
                ticks.put_nowait(seq)
            except queue.Full:  # every thread is stuck on a slow target: count, don't queue
                recorder.missed += 1
            seq += 1
        for _ in pool:
            ticks.put(None)
        for thread in pool:
            thread.join(probes.timeout_seconds + 1)
    return recorder


def read_events(path: Path) -> list[dict[str, Any]]:
    """The lines of a runner's output (a line torn by a hard kill is skipped)."""
    events: list[dict[str, Any]] = []
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return events


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m migrate.probes.load", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--duration", type=float, help="seconds (default: until SIGTERM)")
    args = parser.parse_args(argv)
    config = json.loads(args.config.read_text(encoding="utf-8"))
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with args.out.open("a", encoding="utf-8") as out:
        recorder = run_load(config, out, stop, args.duration)
    summary = {"acked": recorder.acked, "errors": recorder.errors, "missed": recorder.missed}
    print(json.dumps(summary), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
