"""Chaos: what a hosting provider pulling the plug leaves behind.

The target's adapter does the cutting (``HostingAdapter.terminate``: SIGKILL on the local
sandbox, power-off and deny-all firewalls at the clouds, scale to zero and a deny-all
NetworkPolicy on Kubernetes), with no Pulumi call, so the stack still believes everything
runs. Targets whose adapter does not declare ``supports.terminate`` are refused with the
way out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from providers.hosting import Termination, UnsupportedError

if TYPE_CHECKING:
    from migrate.spec.model import ServiceSpec

__all__ = ["Termination", "terminate"]


def terminate(spec: ServiceSpec, target: str) -> Termination:
    """Cut ``target`` off without warning through its adapter; return what was stopped."""
    from providers.registry import hosting_adapter

    settings = spec.target(target)
    adapter = hosting_adapter(settings.provider)
    if not adapter.supports.terminate:
        raise UnsupportedError(adapter.unsupported("terminate", target))
    return adapter.terminate(spec, target, settings)
