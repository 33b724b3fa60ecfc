"""The hetzner hosting adapter: Servers with cloud-init, self-run Postgres/Redis on a volume, Object Storage, LB."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from migrate.errors import MigrateError
from providers.hosting import Capability, HostingAdapter

if TYPE_CHECKING:
    from migrate.spec.model import ServiceSpec


class HetznerAdapter(HostingAdapter):
    name = "hetzner"
    company = "hetzner"
    description = "Servers with cloud-init, self-run Postgres/Redis on a volume, Object Storage, LB."
    capabilities: ClassVar[dict[Capability, str]] = {
        Capability.PROCESSES: "native: servers running the containers (cloud-init)",
        Capability.POSTGRES: "self-run: Postgres on a server with a volume",
        Capability.REDIS: "self-run: Redis on the database server",
        Capability.OBJECT_STORAGE: "native: Hetzner Object Storage (S3)",
        Capability.LOAD_BALANCER: "native: Hetzner Load Balancer",
        Capability.TLS: "native: managed certificate on the LB",
        Capability.DNS: "none: use a DNS provider",
    }

    def program(self, spec: ServiceSpec, target: str, settings: Any) -> None:
        raise MigrateError("the hetzner adapter's stack is not built yet")
