"""The digitalocean hosting adapter: Droplets, managed Postgres and Redis, Spaces, LB, firewalls."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from migrate.errors import MigrateError
from providers.hosting import Capability, HostingAdapter

if TYPE_CHECKING:
    from migrate.spec.model import ServiceSpec


class DigitalOceanAdapter(HostingAdapter):
    name = "digitalocean"
    company = "digitalocean"
    description = "Droplets, managed Postgres and Redis, Spaces, LB, firewalls."
    capabilities: ClassVar[dict[Capability, str]] = {
        Capability.PROCESSES: "native: Droplets running the containers",
        Capability.POSTGRES: "native: managed Postgres",
        Capability.REDIS: "native: managed Redis (Valkey)",
        Capability.OBJECT_STORAGE: "native: Spaces (S3)",
        Capability.LOAD_BALANCER: "native: DO Load Balancer",
        Capability.TLS: "native: Let's Encrypt certificate",
        Capability.DNS: "none: use a DNS provider",
    }

    def program(self, spec: ServiceSpec, target: str, settings: Any) -> None:
        raise MigrateError("the digitalocean adapter's stack is not built yet")
