"""The local hosting adapter: Real processes on this machine, one loopback address per target (sandbox)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from providers.hosting import Capability, ChangeFeed, HostingAdapter, Supports

if TYPE_CHECKING:
    from migrate.outputs import TargetOutputs
    from migrate.spec.model import ServiceSpec


class LocalAdapter(HostingAdapter):
    name = "local"
    company = "local"
    description = "Real processes on this machine, one loopback address per target (sandbox)."
    # versitygw's server-wide event webhook, kept by a listener that outlives followers.
    media_change_feed = ChangeFeed.WEBHOOK
    capabilities: ClassVar[dict[Capability, str]] = {
        Capability.PROCESSES: "native: supervised processes",
        Capability.POSTGRES: "native: a Postgres 15 cluster",
        Capability.REDIS: "native: redis-server",
        Capability.OBJECT_STORAGE: "native: S3 server (versitygw, objects on the target's disk)",
        Capability.LOAD_BALANCER: "native: HTTP front on the target's port 80",
        Capability.TLS: "none: plain HTTP on loopback",
    }
    # The loopback address stays this machine's after its processes die, the stack exports
    # the cluster's superuser, and the object store announces uploads (SQS notifications).
    supports = Supports(
        terminate=True,
        holding_page=True,
        superuser_url=True,
        bucket_events=True,
        disposable=True,
        config_files=True,
        database_locale=True,
        restart_processes=True,
    )
    termination = "SIGKILL every process of the target at once (each process group); data stays on disk"

    def resource_plan(self, spec: ServiceSpec, settings: Any) -> list[tuple[str, int]]:
        plan = [("local:Host", 1)]
        plan += [("local:Postgres", 1)] if spec.postgres else []
        plan += [("local:ObjectStore", 1)] if spec.media else []
        plan += [("local:Redis", 1)] if spec.redis else []
        plan += [("local:Process", len(spec.processes)), ("local:Front", 1)]
        return plan

    def holding_address(
        self, spec: ServiceSpec, target: str, settings: Any, outputs: Callable[[], TargetOutputs]
    ) -> tuple[str, int]:
        if settings.address:
            return str(settings.address), int(settings.http_port)
        out = outputs()
        return out.public_addresses[0], out.http_port
