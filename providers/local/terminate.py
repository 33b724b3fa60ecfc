"""Termination of a local sandbox target: SIGKILL every process it runs, all at once.

Each process's whole session is killed, so Postgres backends die with their postmaster: no
graceful shutdown, no flush, and no Pulumi call, so the stack still believes everything
runs. That is exactly what a real termination leaves you with. Data on disk stays (a
terminated machine's disk is as good as gone to the service; ``migrate up`` restarts on it).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from typing import TYPE_CHECKING, Any

from providers.hosting import Cut, Termination

if TYPE_CHECKING:
    from migrate.spec.model import ServiceSpec


def terminate(spec: ServiceSpec, target: str, settings: Any) -> Termination:
    from providers.local import layout

    directory = layout.sandbox_dir(target, getattr(settings, "base_dir", None))
    address = layout.target_address(target, getattr(settings, "address", None))
    cut = Cut(target, address)
    victims = layout.recorded_pids(directory)
    for pid in victims.values():
        try:
            os.killpg(os.getpgid(pid), signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(layout.start_time(pid) is not None for pid in victims.values()):
        time.sleep(0.01)
    cut.stopped.update(victims)
    return cut.done(f"SIGKILL to {len(victims)} process groups")
