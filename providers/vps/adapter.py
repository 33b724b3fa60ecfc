"""The vps hosting adapter: existing hosts over SSH, everything installed by pulumi-command."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from migrate.errors import MigrateError
from providers.hosting import Capability, HostingAdapter

if TYPE_CHECKING:
    from migrate.spec.model import ServiceSpec


class VpsAdapter(HostingAdapter):
    name = "vps"
    company = "self"
    description = "Existing hosts over SSH: runtime, app, Postgres and an object store installed by pulumi-command."
    capabilities: ClassVar[dict[Capability, str]] = {
        Capability.PROCESSES: "self-run: systemd units over SSH",
        Capability.POSTGRES: "self-run: Debian postgresql over SSH",
        Capability.REDIS: "self-run: redis-server over SSH",
        Capability.OBJECT_STORAGE: "self-run: S3-compatible server over SSH",
        Capability.LOAD_BALANCER: "self-run: nginx on the front host",
        Capability.TLS: "self-run: certificate on nginx",
        Capability.DNS: "none: use a DNS provider",
    }

    def program(self, spec: ServiceSpec, target: str, settings: Any) -> None:
        raise MigrateError("the vps adapter's stack is not built yet")
