"""The aws hosting adapter: ECS on Fargate, RDS Postgres, ElastiCache, S3, ALB with ACM TLS."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from migrate.errors import MigrateError
from providers.hosting import Capability, HostingAdapter

if TYPE_CHECKING:
    from migrate.spec.model import ServiceSpec


class AwsAdapter(HostingAdapter):
    name = "aws"
    company = "aws"
    description = "ECS on Fargate, RDS Postgres, ElastiCache, S3, ALB with ACM TLS."
    capabilities: ClassVar[dict[Capability, str]] = {
        Capability.PROCESSES: "native: ECS Fargate services",
        Capability.POSTGRES: "native: RDS",
        Capability.REDIS: "native: ElastiCache",
        Capability.OBJECT_STORAGE: "native: S3",
        Capability.LOAD_BALANCER: "native: ALB",
        Capability.TLS: "native: ACM certificate",
        Capability.DNS: "native: Route53 (keep a second DNS operator)",
    }

    def program(self, spec: ServiceSpec, target: str, settings: Any) -> None:
        raise MigrateError("the aws adapter's stack is not built yet")
