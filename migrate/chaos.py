"""Chaos: what a hosting provider pulling the plug leaves behind, on a local sandbox target.

``terminate`` SIGKILLs every process of the target at once (each process's whole
session, so Postgres backends die with their postmaster): no graceful shutdown, no
flush, and no Pulumi call, so the stack still believes everything runs. That is
exactly what a real termination leaves you with. Data on disk stays (a terminated
machine's disk is as good as gone to the service; ``migrate up`` restarts on it).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from migrate.errors import InputError

if TYPE_CHECKING:
    from migrate.spec.model import ServiceSpec


@dataclass
class Termination:
    target: str
    address: str
    killed: dict[str, int]
    seconds: float


def terminate(spec: ServiceSpec, target: str) -> Termination:
    """Kill every process of a local target without warning; return what was killed."""
    from providers.local import layout

    settings = spec.target(target)
    if settings.provider != "local":
        raise InputError(
            f"chaos terminate works on local sandbox targets; {target!r} is a {settings.provider} target "
            "(terminate it at the provider)"
        )
    directory = layout.sandbox_dir(target, getattr(settings, "base_dir", None))
    address = layout.target_address(target, getattr(settings, "address", None))
    started = time.monotonic()
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
    return Termination(target=target, address=address, killed=victims, seconds=time.monotonic() - started)
