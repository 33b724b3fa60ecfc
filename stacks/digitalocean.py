"""The digitalocean stack: Droplets running the containers, managed Postgres and Valkey,
Spaces, a load balancer and firewalls.

Droplets accept web traffic only from the load balancer (a cloud firewall); the managed
databases' trusted sources are the app droplets' tag only. DigitalOcean's managed Redis
is now Valkey (Redis-compatible); the app gets a ``rediss://`` URL. The app's Spaces key
is scoped to its buckets (read-write), separate from the key the provider runs with.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pulumi
import pulumi_digitalocean as do

from migrate.errors import InputError
from stacks import cloud_common as common

if TYPE_CHECKING:
    from migrate.spec.model import Process, ServiceSpec
    from providers.digitalocean.settings import DigitalOceanSettings
    from providers.hosting import RunContext

POSTGRES_VERSIONS = (14, 15, 16, 17)
DB_SIZES = {"small": "db-s-1vcpu-2gb", "medium": "db-s-2vcpu-4gb", "large": "db-s-4vcpu-8gb"}
VALKEY_VERSION = "8"


def check(spec: ServiceSpec, target: str, settings: DigitalOceanSettings) -> None:
    common.require_images(spec, "digitalocean")
    common.public_process(spec)
    if spec.postgres is not None and spec.postgres.version not in POSTGRES_VERSIONS:
        raise InputError(
            f"postgres.version: DigitalOcean managed Postgres offers "
            f"{', '.join(map(str, POSTGRES_VERSIONS))}, not {spec.postgres.version}"
        )
    if spec.media is not None and (settings.spaces_access_key is None or settings.spaces_secret_key is None):
        raise InputError(
            f"targets.{target}.spaces_access_key: media needs a Spaces key for the provider (and spaces_secret_key)"
        )


def build(spec: ServiceSpec, target: str, settings: DigitalOceanSettings, context: RunContext) -> None:
    check(spec, target, settings)
    spaces_id = spaces_secret = None
    if settings.spaces_access_key and settings.spaces_secret_key:
        spaces_id = pulumi.Output.secret(settings.spaces_access_key.resolve("spaces_access_key"))
        spaces_secret = pulumi.Output.secret(settings.spaces_secret_key.resolve("spaces_secret_key"))
    provider = do.Provider(
        "digitalocean",
        token=pulumi.Output.secret(settings.token.resolve("token")),
        spaces_access_id=spaces_id,
        spaces_secret_key=spaces_secret,
    )
    b = common.Build(spec, target, settings, pulumi.ResourceOptions(provider=provider))
    web_name, web = common.public_process(spec)
    assert web.port is not None

    network = Network(b)
    links = common.ServiceLinks(s3_region=settings.region, tls=bool(settings.certificate_name))
    if spec.postgres is not None:
        links.database_url = Database(b, network).url
    if spec.redis is not None:
        links.redis_url = Cache(b, network).url
    if spec.media is not None:
        Spaces(b).link(links)
    layout = common.placement(spec)
    droplets = Droplets(b, network, common.app_servers_user_data(spec, layout, links))
    lb = Front(b, web_name, web, network, droplets, layout).lb

    common.export_outputs(
        target=target,
        provider="digitalocean",
        links=links,
        public_addresses=lb.ip.apply(lambda ip: [ip]),
        http_port=80,
        health_url=common.health_url(lb.ip, 80, web.health_path),
    )


class _Part(common.TargetPart):
    adapter = "digitalocean"


class Network(_Part):
    """The VPC, the target's tags, and the app droplets' tag the data services trust."""

    def __init__(self, b: common.Build[DigitalOceanSettings]) -> None:
        super().__init__(b)
        name, settings = b.name, b.settings
        self.settings = settings
        tag_names = [f"{k}:{v}" for k, v in b.labels.items()]
        self.tags = [do.Tag(f"{name}-{i}", name=t.replace(":", "-"), opts=self.child) for i, t in enumerate(tag_names)]
        self.app_tag = do.Tag(f"{name}-app", name=f"{name}-app", opts=self.child)
        self.vpc = do.Vpc(f"{name}-vpc", region=settings.region, ip_range=settings.vpc_cidr, opts=self.child)
        self.trusted = [do.DatabaseFirewallRuleArgs(type="tag", value=self.app_tag.name)]
        self.register_outputs({})

    @property
    def tag_names(self) -> list[pulumi.Output[str]]:
        return [t.name for t in self.tags]

    def cluster(
        self,
        part: _Part,
        name: str,
        engine: str,
        version: str,
        size: str,
        storage_size_mib: str | None = None,
    ) -> do.DatabaseCluster:
        """A one-node managed database cluster on the VPC, with the target's tags."""
        return do.DatabaseCluster(
            name,
            engine=engine,
            version=version,
            size=size,
            node_count=1,
            region=self.settings.region,
            private_network_uuid=self.vpc.id,
            storage_size_mib=storage_size_mib,
            tags=self.tag_names,
            opts=part.child,
        )


class Database(_Part):
    """Managed Postgres on the VPC, trusting only the app droplets' tag."""

    def __init__(self, b: common.Build[DigitalOceanSettings], network: Network) -> None:
        super().__init__(b)
        name, pg = b.name, b.spec.postgres
        assert pg is not None
        storage = str(pg.storage_gb * 1024) if pg.storage_gb > 10 else None
        cluster = network.cluster(self, f"{name}-pg", "pg", str(pg.version), DB_SIZES[pg.size], storage)
        database = do.DatabaseDb(f"{name}-pg-db", cluster_id=cluster.id, name=pg.database, opts=self.child)
        user = do.DatabaseUser(f"{name}-pg-user", cluster_id=cluster.id, name=pg.user, opts=self.child)
        do.DatabaseFirewall(f"{name}-pg", cluster_id=cluster.id, rules=network.trusted, opts=self.child)
        self.url = common.postgres_url(
            user.name, user.password, cluster.private_host, cluster.port, database.name, sslmode="require"
        )
        self.register_outputs({})


class Cache(_Part):
    """Managed Valkey (Redis-compatible) on the VPC, trusting only the app droplets' tag."""

    def __init__(self, b: common.Build[DigitalOceanSettings], network: Network) -> None:
        super().__init__(b)
        name, redis = b.name, b.spec.redis
        assert redis is not None
        cache = network.cluster(self, f"{name}-valkey", "valkey", VALKEY_VERSION, DB_SIZES[redis.size])
        do.DatabaseFirewall(f"{name}-valkey", cluster_id=cache.id, rules=network.trusted, opts=self.child)
        self.url = common.redis_url(cache.password, cache.private_host, cache.port, tls=True, user="default")
        self.register_outputs({})


class Spaces(_Part):
    """The spec's buckets in Spaces and a key scoped to them (read-write)."""

    def __init__(self, build: common.Build[DigitalOceanSettings]) -> None:
        super().__init__(build)
        assert build.spec.media is not None
        name = build.name
        self.region = build.settings.region
        self.buckets: dict[str, pulumi.Output[str]] = {}
        grants = []
        for b in build.spec.media.buckets:
            bucket = do.SpacesBucket(
                f"{name}-{b.name}",
                name=common.bucket_name(build.spec, build.target, b.name),
                region=self.region,
                acl="public-read" if b.public else "private",
                opts=self.child,
            )
            self.buckets[b.name] = bucket.name
            grants.append(do.SpacesKeyGrantArgs(bucket=bucket.name, permission="readwrite"))
        self.key = do.SpacesKey(f"{name}-app", name=f"{name}-app", grants=grants, opts=self.child)
        self.register_outputs({})

    def link(self, links: common.ServiceLinks) -> None:
        links.set_media(
            f"https://{self.region}.digitaloceanspaces.com", self.buckets, self.key.access_key, self.key.secret_key
        )


class Droplets(_Part):
    """App droplets, each running its share of the processes' containers."""

    def __init__(
        self, b: common.Build[DigitalOceanSettings], network: Network, user_data: list[pulumi.Output[str]]
    ) -> None:
        """``user_data``: each droplet's cloud-init (``common.app_servers_user_data``)."""
        super().__init__(b)
        name, settings = b.name, b.settings
        self.droplets = []
        for index, cloud_init in enumerate(user_data):
            self.droplets.append(
                do.Droplet(
                    f"{name}-app-{index}",
                    image=settings.image,
                    size=settings.droplet_size,
                    region=settings.region,
                    vpc_uuid=network.vpc.id,
                    monitoring=True,
                    ssh_keys=settings.ssh_keys or None,
                    tags=[network.app_tag.name, *network.tag_names],
                    user_data=cloud_init,
                    opts=self.child,
                )
            )
        self.register_outputs({})


class Front(_Part):
    """The load balancer (HTTP, and HTTPS with a certificate) to the droplets running the
    public process, and the firewall admitting web traffic only from it."""

    def __init__(
        self,
        b: common.Build[DigitalOceanSettings],
        web_name: str,
        web: Process,
        network: Network,
        droplets: Droplets,
        layout: list[list[str]],
    ) -> None:
        super().__init__(b)
        name, settings = b.name, b.settings
        assert web.port is not None
        web_droplets = [d for d, procs in zip(droplets.droplets, layout, strict=True) if web_name in procs]
        rules = [
            do.LoadBalancerForwardingRuleArgs(
                entry_port=80, entry_protocol="http", target_port=web.port, target_protocol="http"
            )
        ]
        if settings.certificate_name:
            rules.append(
                do.LoadBalancerForwardingRuleArgs(
                    entry_port=443,
                    entry_protocol="https",
                    target_port=web.port,
                    target_protocol="http",
                    certificate_name=settings.certificate_name,
                )
            )
        self.lb = do.LoadBalancer(
            f"{name}-lb",
            region=settings.region,
            vpc_uuid=network.vpc.id,
            droplet_ids=[d.id.apply(int) for d in web_droplets],
            forwarding_rules=rules,
            healthcheck=do.LoadBalancerHealthcheckArgs(
                protocol="http",
                port=web.port,
                path=web.health_path,
                check_interval_seconds=10,
                response_timeout_seconds=5,
                healthy_threshold=2,
                unhealthy_threshold=3,
            ),
            opts=self.child,
        )
        anywhere = ["0.0.0.0/0", "::/0"]
        do.Firewall(
            f"{name}-app",
            droplet_ids=[d.id.apply(int) for d in droplets.droplets],
            inbound_rules=[
                do.FirewallInboundRuleArgs(
                    protocol="tcp", port_range=str(web.port), source_load_balancer_uids=[self.lb.id]
                )
            ],
            outbound_rules=[
                do.FirewallOutboundRuleArgs(protocol=proto, port_range="1-65535", destination_addresses=anywhere)
                for proto in ("tcp", "udp")
            ]
            + [do.FirewallOutboundRuleArgs(protocol="icmp", destination_addresses=anywhere)],
            opts=self.child,
        )
        self.register_outputs({})
