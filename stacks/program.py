"""The inline Pulumi program: read the spec, hand it to the target's hosting adapter.

The engine runs this in its own process (Automation API inline program). What the
adapters need beyond the spec and the target's settings (where the app's code is)
travels in a ``RunContext``, set for the duration of the program run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from migrate.spec.model import ServiceSpec


@dataclass(frozen=True)
class RunContext:
    """``app_dir``: where the app's code is (the spec file's directory): processes run there."""

    app_dir: Path


_context = RunContext(app_dir=Path.cwd())


def current_context() -> RunContext:
    return _context


def make_program(spec: ServiceSpec, target: str, context: RunContext) -> Callable[[], None]:
    """The Pulumi program of ``target``: its adapter declares the resources and exports outputs."""
    from providers.registry import hosting_adapter

    settings = spec.target(target)
    adapter = hosting_adapter(settings.provider)

    def program() -> None:
        global _context
        _context = context
        adapter.program(spec, target, settings)

    return program
