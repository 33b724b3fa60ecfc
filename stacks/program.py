"""The inline Pulumi program: read the spec, hand it to the target's hosting adapter.

The engine runs this in its own process (Automation API inline program). What the
adapters need beyond the spec and the target's settings (where the app's code is)
travels in a ``RunContext``, passed down as an argument.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from migrate.spec.model import ServiceSpec
    from providers.hosting import RunContext


def make_program(spec: ServiceSpec, target: str, context: RunContext) -> Callable[[], None]:
    """The Pulumi program of ``target``: its adapter declares the resources and exports outputs."""
    from providers.registry import hosting_adapter

    settings = spec.target(target)
    adapter = hosting_adapter(settings.provider)

    def program() -> None:
        adapter.program(spec, target, settings, context)

    return program
