"""A target's outputs as this machine reaches its data services, for the length of a data step.

Stacks export the addresses their apps use; a provider whose Postgres or Redis listen only
on private addresses says how migrate gets in (``HostingAdapter.data_access``: the vps
adapter opens SSH tunnels). The core asks every adapter the same way, never by name.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from migrate.outputs import TargetOutputs
    from migrate.spec.model import ServiceSpec


def reach(spec: ServiceSpec | None, outputs: TargetOutputs, stack: ExitStack) -> TargetOutputs:
    """``outputs`` rewritten by the target's adapter (whatever it opens is closed with ``stack``).

    Without the spec, or for a target it does not name (an outputs file), they stay as given."""
    from providers.registry import hosting_adapter

    if spec is None or outputs.target not in spec.targets:
        return outputs
    settings = spec.target(outputs.target)
    return hosting_adapter(settings.provider).data_access(spec, outputs.target, settings, outputs, stack)


@contextmanager
def reached(spec: ServiceSpec | None, *outputs: TargetOutputs) -> Iterator[list[TargetOutputs]]:
    """Every side reached at once; the tunnels (if any) close when the block ends."""
    with ExitStack() as stack:
        yield [reach(spec, item, stack) for item in outputs]
