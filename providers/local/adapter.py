"""The local hosting adapter: Real processes on this machine, one loopback address per target (sandbox)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from providers.hosting import Capability, ChangeFeed, HostingAdapter

if TYPE_CHECKING:
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
        Capability.DNS: "none: use a DNS provider",
    }

    def resource_plan(self, spec: ServiceSpec, settings: Any) -> list[tuple[str, int]]:
        plan = [("local:Host", 1)]
        plan += [("local:Postgres", 1)] if spec.postgres else []
        plan += [("local:ObjectStore", 1)] if spec.media else []
        plan += [("local:Redis", 1)] if spec.redis else []
        plan += [("local:Process", len(spec.processes)), ("local:Front", 1)]
        return plan
