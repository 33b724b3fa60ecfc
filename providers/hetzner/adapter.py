"""The hetzner hosting adapter: servers, self-run Postgres/Redis, Object Storage, LB."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from providers.hosting import AdapterFinding, Capability, HostingAdapter, Supports

if TYPE_CHECKING:
    from migrate.spec.model import ServiceSpec


class HetznerAdapter(HostingAdapter):
    name = "hetzner"
    company = "hetzner"
    description = "Servers with cloud-init, self-run Postgres/Redis on a volume, Object Storage, LB."
    capabilities: ClassVar[dict[Capability, str]] = {
        Capability.PROCESSES: "native: servers running the containers (cloud-init)",
        Capability.POSTGRES: "self-run: Postgres container on a server with a volume",
        Capability.REDIS: "self-run: Redis container on the database server",
        Capability.OBJECT_STORAGE: "native: Hetzner Object Storage (S3; keys made in the console)",
        Capability.LOAD_BALANCER: "native: Hetzner Load Balancer",
        Capability.TLS: "native: certificate on the LB (certificate_id)",
    }
    plugins = (
        ("hcloud", "1.43.3"),
        ("aws", "7.51.1"),
        ("random", "4.21.4"),
    )
    # Postgres is self-run, but the stack exports no superuser URL; Object Storage sends no
    # bucket notifications.
    supports = Supports(terminate=True)
    storage_hosts = ("your-objectstorage.com",)
    termination = (
        "every server of the target powered off and its firewalls' rules emptied (deny all inbound), "
        "through the Hetzner Cloud API"
    )

    def audit_findings(self, spec: ServiceSpec, target: str, settings: Any) -> list[AdapterFinding]:

        return [
            *self.self_run_backups(spec, settings),
            AdapterFinding(
                "provider-only",
                "info",
                "Hetzner keeps the app's secrets in servers' user data (cloud-init)",
                "rotate the spec's secrets after the account ends",
            ),
        ]

    def resource_plan(self, spec: ServiceSpec, settings: Any) -> list[tuple[str, int]]:
        servers = max(1, *(p.replicas for p in spec.processes.values()))
        web = next(p for p in spec.processes.values() if p.public)
        data = spec.postgres is not None or spec.redis is not None
        buckets = spec.media.buckets if spec.media else []
        plan = [
            ("pulumi:providers:hcloud", 1),
            ("hcloud:index/network:Network", 1),
            ("hcloud:index/networkSubnet:NetworkSubnet", 1),
            ("hcloud:index/firewall:Firewall", 1),
            ("hcloud:index/server:Server", servers + data),
            ("hcloud:index/loadBalancer:LoadBalancer", 1),
            ("hcloud:index/loadBalancerNetwork:LoadBalancerNetwork", 1),
            ("hcloud:index/loadBalancerTarget:LoadBalancerTarget", web.replicas),
            (
                "hcloud:index/loadBalancerService:LoadBalancerService",
                1 + (settings.certificate_id is not None),
            ),
        ]
        if data:
            plan += [
                ("hcloud:index/volume:Volume", 1),
                ("hcloud:index/volumeAttachment:VolumeAttachment", 1),
                (
                    "random:index/randomPassword:RandomPassword",
                    (spec.postgres is not None) + (spec.redis is not None),
                ),
            ]
        if buckets:
            plan += [("pulumi:providers:aws", 1), ("aws:s3/bucket:Bucket", len(buckets))]
            public = sum(1 for b in buckets if b.public)
            if public:
                plan.append(("aws:s3/bucketPolicy:BucketPolicy", public))
        # The stack's parts (ComponentResources), one per concern the spec asks for.
        parts = ["PrivateNetwork", "AppServers", "Front"] + ["DataServer"] * data + ["ObjectStorage"] * bool(buckets)
        plan += [(f"migrate:hetzner:{part}", 1) for part in parts]
        return plan
