"""The kubernetes hosting adapter: Deployments, Services, Ingress; Postgres and object store as StatefulSets."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from migrate.errors import MigrateError
from providers.hosting import Capability, HostingAdapter

if TYPE_CHECKING:
    from migrate.spec.model import ServiceSpec


class KubernetesAdapter(HostingAdapter):
    name = "kubernetes"
    company = "self"
    description = "Deployments, Services, Ingress; Postgres and object store as StatefulSets."
    capabilities: ClassVar[dict[Capability, str]] = {
        Capability.PROCESSES: "native: Deployments",
        Capability.POSTGRES: "self-run: StatefulSet (or CloudNativePG)",
        Capability.REDIS: "self-run: StatefulSet",
        Capability.OBJECT_STORAGE: "self-run: S3-compatible StatefulSet",
        Capability.LOAD_BALANCER: "native: Ingress",
        Capability.TLS: "native: Ingress TLS secret",
        Capability.DNS: "none: use a DNS provider",
    }

    def program(self, spec: ServiceSpec, target: str, settings: Any) -> None:
        raise MigrateError("the kubernetes adapter's stack is not built yet")
