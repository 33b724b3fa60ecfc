"""The digitalocean hosting adapter: Droplets, managed Postgres and Redis, Spaces, LB, firewalls."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from providers.hosting import AdapterFinding, Capability, HostingAdapter, Supports

if TYPE_CHECKING:
    from migrate.spec.model import ServiceSpec


class DigitalOceanAdapter(HostingAdapter):
    name = "digitalocean"
    company = "digitalocean"
    description = "Droplets, managed Postgres and Redis, Spaces, LB, firewalls."
    capabilities: ClassVar[dict[Capability, str]] = {
        Capability.PROCESSES: "native: Droplets running the containers",
        Capability.POSTGRES: "native: managed Postgres (14-17)",
        Capability.REDIS: "native: managed Valkey 8 (Redis-compatible)",
        Capability.OBJECT_STORAGE: "native: Spaces (S3)",
        Capability.LOAD_BALANCER: "native: DO Load Balancer",
        Capability.TLS: "native: certificate on the LB (certificate_name)",
    }
    plugins = (("digitalocean", "4.84.1"),)
    # Managed Postgres hands out no superuser; Spaces sends no bucket notifications.
    supports = Supports(terminate=True)
    storage_hosts = ("digitaloceanspaces.com",)
    termination = (
        "every Droplet of the target powered off and every inbound rule of its firewalls removed "
        "(through the DigitalOcean API)"
    )

    def audit_findings(self, spec: ServiceSpec, target: str, settings: Any) -> list[AdapterFinding]:

        findings = self.managed_backups(spec, settings)
        if spec.redis is not None:
            findings.append(
                AdapterFinding(
                    "provider-only",
                    "info",
                    "DigitalOcean serves Redis as Valkey 8; Redis-only commands or modules "
                    "will not survive a move back and forth unnoticed",
                    "test the app against Valkey and Redis both",
                )
            )
        return findings

    def resource_plan(self, spec: ServiceSpec, settings: Any) -> list[tuple[str, int]]:
        servers = max(1, *(p.replicas for p in spec.processes.values()))
        buckets = len(spec.media.buckets) if spec.media else 0
        data = (spec.postgres is not None) + (spec.redis is not None)
        plan = [
            ("pulumi:providers:digitalocean", 1),
            ("digitalocean:index/tag:Tag", 4),
            ("digitalocean:index/vpc:Vpc", 1),
            ("digitalocean:index/droplet:Droplet", servers),
            ("digitalocean:index/loadBalancer:LoadBalancer", 1),
            ("digitalocean:index/firewall:Firewall", 1),
        ]
        if data:
            plan += [
                ("digitalocean:index/databaseCluster:DatabaseCluster", data),
                ("digitalocean:index/databaseFirewall:DatabaseFirewall", data),
            ]
        if spec.postgres is not None:
            plan += [
                ("digitalocean:index/databaseDb:DatabaseDb", 1),
                ("digitalocean:index/databaseUser:DatabaseUser", 1),
            ]
        if buckets:
            plan += [
                ("digitalocean:index/spacesBucket:SpacesBucket", buckets),
                ("digitalocean:index/spacesKey:SpacesKey", 1),
            ]
        # The stack's parts (ComponentResources), one per concern the spec asks for.
        parts = ["Network", "Droplets", "Front"] + ["Database"] * (spec.postgres is not None)
        parts += ["Cache"] * (spec.redis is not None) + ["Spaces"] * bool(buckets)
        plan += [(f"migrate:digitalocean:{part}", 1) for part in parts]
        return plan
