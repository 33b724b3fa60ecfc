"""The hetzner stack: servers running the app's containers, self-run data, Object Storage, LB.

Hetzner has no managed Postgres or Redis: a database server runs both as containers
with their data on an attached volume. Every server sits on a private network; the
public firewalls admit nothing (the load balancer reaches the app over the private
network, the app reaches the data the same way), and on the database server only the
app servers' private addresses may open Postgres or Redis connections. Buckets live in
Hetzner Object Storage, managed through its S3 API with the aws provider pointed at it
(Hetzner's API has no buckets). Secrets reach servers in cloud-init, which Pulumi keeps
as a secret and Hetzner keeps as server user data: note this in an audit.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any

import pulumi
import pulumi_hcloud as hcloud

from migrate.errors import InputError
from stacks import cloud_common as common

if TYPE_CHECKING:
    from migrate.spec.model import Process, ServiceSpec
    from providers.hetzner.settings import HetznerSettings
    from providers.hosting import RunContext

DATA_MOUNT = "/srv/data"


def check(spec: ServiceSpec, target: str, settings: HetznerSettings) -> None:
    from providers.hetzner.settings import OBJECT_STORAGE_LOCATIONS

    common.require_images(spec, "hetzner")
    common.public_process(spec)
    if spec.media is not None:
        if settings.location not in OBJECT_STORAGE_LOCATIONS and not settings.object_storage_endpoint:
            raise InputError(
                f"targets.{target}.location: Hetzner Object Storage is offered only in "
                f"{', '.join(OBJECT_STORAGE_LOCATIONS)}; pick one or set object_storage_endpoint"
            )
        if settings.s3_access_key is None or settings.s3_secret_key is None:
            raise InputError(
                f"targets.{target}.s3_access_key: media needs Object Storage credentials "
                "(create them in the Hetzner console; its API cannot) and s3_secret_key"
            )


def addresses(settings: HetznerSettings, app_servers: int) -> tuple[str, str, list[str]]:
    """Private addresses: (load balancer, database server, app servers)."""
    hosts = list(ipaddress.IPv4Network(settings.network_cidr).subnets(new_prefix=24))[1]
    base = hosts.network_address
    return str(base + 2), str(base + 10), [str(base + 20 + i) for i in range(app_servers)]


def build(spec: ServiceSpec, target: str, settings: HetznerSettings, context: RunContext) -> None:
    """The target as parts (ComponentResources): the private network, the data server,
    Object Storage, the app servers and the load balancer in front of them."""
    check(spec, target, settings)
    provider = hcloud.Provider("hcloud", token=pulumi.Output.secret(settings.token.resolve("token")))
    b = common.Build(spec, target, settings, pulumi.ResourceOptions(provider=provider))
    web_name, web = common.public_process(spec)
    assert web.port is not None
    layout = common.placement(spec)
    lb_ip, db_ip, app_ips = addresses(settings, len(layout))

    network = PrivateNetwork(b)
    links = common.ServiceLinks(s3_region=settings.location, tls=settings.certificate_id is not None)
    if spec.postgres is not None or spec.redis is not None:
        DataServer(b, network, db_ip, app_ips).link(links)
    if spec.media is not None:
        ObjectStorage(b).link(links)
    servers = AppServers(b, network, common.app_servers_user_data(spec, layout, links), app_ips)
    front = Front(b, web_name, web, network, servers, layout, lb_ip)

    common.export_outputs(
        target=target,
        provider="hetzner",
        links=links,
        public_addresses=front.lb.ipv4.apply(lambda ip: [ip]),
        http_port=80,
        health_url=common.health_url(front.lb.ipv4, 80, web.health_path),
    )


class _Part(common.TargetPart):
    adapter = "hetzner"


class PrivateNetwork(_Part):
    """The private network every server sits on, and the firewall that closes their public
    side: traffic arrives through the load balancer over the private network."""

    def __init__(self, b: common.Build[HetznerSettings]) -> None:
        super().__init__(b)
        name, settings, labels = b.name, b.settings, b.labels
        self.name, self.settings, self.labels = name, settings, labels
        self.network = hcloud.Network(f"{name}-net", ip_range=settings.network_cidr, labels=labels, opts=self.child)
        subnet = hcloud.NetworkSubnet(
            f"{name}-subnet",
            network_id=self.network.id.apply(int),
            type="cloud",
            network_zone=_zone(settings.location),
            ip_range=str(list(ipaddress.ip_network(settings.network_cidr).subnets(new_prefix=24))[1]),
            opts=self.child,
        )
        self.closed = hcloud.Firewall(
            f"{name}-closed",
            labels=labels,
            rules=[
                hcloud.FirewallRuleArgs(direction="in", protocol="icmp", source_ips=["0.0.0.0/0", "::/0"]),
            ],
            opts=self.child,
        )
        # What joins the network waits for its subnet.
        self.on_subnet = pulumi.ResourceOptions(depends_on=[subnet])
        self.register_outputs({})

    def server(
        self, parent: _Part, key: str, role: str, server_type: str, ip: str, user_data: pulumi.Input[str]
    ) -> hcloud.Server:
        """A server reached only over the private network (its public side is ``closed``)."""
        return hcloud.Server(
            f"{self.name}-{key}",
            server_type=server_type,
            image=self.settings.image,
            location=self.settings.location,
            labels={**self.labels, "role": role},
            ssh_keys=self.settings.ssh_keys or None,
            firewall_ids=[self.closed.id.apply(int)],
            networks=[hcloud.ServerNetworkArgs(network_id=self.network.id.apply(int), ip=ip)],
            user_data=user_data,
            opts=pulumi.ResourceOptions.merge(parent.child, self.on_subnet),
        )


class DataServer(_Part):
    """Postgres and Redis as containers on one server, their data on an attached volume,
    reachable from the app servers' private addresses only."""

    def __init__(
        self, b: common.Build[HetznerSettings], network: PrivateNetwork, db_ip: str, app_ips: list[str]
    ) -> None:
        super().__init__(b)
        name, spec, settings = b.name, b.spec, b.settings
        storage = spec.postgres.storage_gb if spec.postgres else 10
        volume = hcloud.Volume(
            f"{name}-data",
            size=storage,
            location=settings.location,
            format="ext4",
            labels=network.labels,
            opts=self.child,
        )
        mine = pulumi.ResourceOptions(parent=self)
        pg_password = common.random_password(f"{name}-db-password", opts=mine) if spec.postgres else None
        redis_password = common.random_password(f"{name}-redis-password", opts=mine) if spec.redis else None
        user_data = pulumi.Output.all(volume.id, pg_password, redis_password).apply(
            lambda a: _db_cloud_init(spec, a[0], db_ip, app_ips, a[1], a[2])
        )
        db_server = network.server(
            self, "db", "db", settings.database_server_type, db_ip, common.secret_input(user_data)
        )
        hcloud.VolumeAttachment(
            f"{name}-data",
            server_id=db_server.id.apply(int),
            volume_id=volume.id.apply(int),
            automount=False,
            opts=self.child,
        )
        self.database_url = None
        if spec.postgres is not None and pg_password is not None:
            pg = spec.postgres
            self.database_url = common.postgres_url(pg.user, pg_password, db_ip, 5432, pg.database)
        self.redis_url = common.redis_url(redis_password, db_ip, 6379) if redis_password is not None else None
        self.register_outputs({})

    def link(self, links: common.ServiceLinks) -> None:
        links.database_url = self.database_url
        links.redis_url = self.redis_url


class ObjectStorage(_Part):
    """The spec's buckets in Hetzner Object Storage, through its S3 API (the aws provider
    pointed at it: Hetzner's own API has no buckets)."""

    def __init__(self, build: common.Build[HetznerSettings]) -> None:
        super().__init__(build)
        import pulumi_aws as aws

        name, spec, target, settings = build.name, build.spec, build.target, build.settings
        assert spec.media is not None
        assert settings.s3_access_key is not None and settings.s3_secret_key is not None
        self.endpoint = settings.object_storage_endpoint or (f"https://{settings.location}.your-objectstorage.com")
        self.access = pulumi.Output.secret(settings.s3_access_key.resolve("s3_access_key"))
        self.secret = pulumi.Output.secret(settings.s3_secret_key.resolve("s3_secret_key"))
        s3 = aws.Provider(
            "hetzner-object-storage",
            region=settings.location,
            access_key=self.access,
            secret_key=self.secret,
            endpoints=[aws.ProviderEndpointArgs(s3=self.endpoint)],
            s3_use_path_style=True,
            skip_credentials_validation=True,
            skip_region_validation=True,
            skip_requesting_account_id=True,
            skip_metadata_api_check=True,
            opts=pulumi.ResourceOptions(parent=self),
        )
        on_s3 = pulumi.ResourceOptions(provider=s3, parent=self)
        self.buckets: dict[str, pulumi.Output[str]] = {}
        for b in spec.media.buckets:
            bucket = aws.s3.Bucket(
                f"{name}-{b.name}", bucket=common.bucket_name(spec, target, b.name), force_destroy=False, opts=on_s3
            )
            if b.public:
                aws.s3.BucketPolicy(
                    f"{name}-{b.name}-public-read",
                    bucket=bucket.id,
                    policy=bucket.bucket.apply(lambda b: common.public_read_policy(f"arn:aws:s3:::{b}")),
                    opts=on_s3,
                )
            self.buckets[b.name] = bucket.bucket
        self.register_outputs({})

    def link(self, links: common.ServiceLinks) -> None:
        links.set_media(self.endpoint, self.buckets, self.access, self.secret)


class AppServers(_Part):
    """App servers, each running its share of the processes' containers."""

    def __init__(
        self,
        b: common.Build[HetznerSettings],
        network: PrivateNetwork,
        user_data: list[pulumi.Output[str]],
        ips: list[str],
    ) -> None:
        """``user_data``: each server's cloud-init (``common.app_servers_user_data``); ``ips``: their
        private addresses."""
        super().__init__(b)
        server_type = b.settings.server_type
        self.servers = [
            network.server(self, f"app-{i}", "app", server_type, ips[i], data) for i, data in enumerate(user_data)
        ]
        self.register_outputs({})


class Front(_Part):
    """The load balancer, sending HTTP (and HTTPS with a certificate) to the servers that
    run the public process, over the private network, with the process's health check."""

    def __init__(
        self,
        b: common.Build[HetznerSettings],
        web_name: str,
        web: Process,
        network: PrivateNetwork,
        servers: AppServers,
        layout: list[list[str]],
        lb_ip: str,
    ) -> None:
        super().__init__(b)
        name, settings = b.name, b.settings
        assert web.port is not None
        child = self.child
        self.lb = hcloud.LoadBalancer(
            f"{name}-lb",
            load_balancer_type=settings.load_balancer_type,
            location=settings.location,
            labels=network.labels,
            opts=child,
        )
        lb_net = hcloud.LoadBalancerNetwork(
            f"{name}-lb",
            load_balancer_id=self.lb.id.apply(int),
            network_id=network.network.id.apply(int),
            ip=lb_ip,
            opts=pulumi.ResourceOptions.merge(child, network.on_subnet),
        )
        for index, processes in enumerate(layout):
            if web_name in processes:
                hcloud.LoadBalancerTarget(
                    f"{name}-lb-app-{index}",
                    load_balancer_id=self.lb.id.apply(int),
                    type="server",
                    server_id=servers.servers[index].id.apply(int),
                    use_private_ip=True,
                    opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[lb_net])),
                )
        health = hcloud.LoadBalancerServiceHealthCheckArgs(
            protocol="http",
            port=web.port,
            interval=10,
            timeout=5,
            retries=3,
            http=hcloud.LoadBalancerServiceHealthCheckHttpArgs(path=web.health_path, status_codes=["2??", "3??"]),
        )
        services: list[tuple[str, int, hcloud.LoadBalancerServiceHttpArgs | None]] = [("http", 80, None)]
        if settings.certificate_id is not None:
            services.append(("https", 443, hcloud.LoadBalancerServiceHttpArgs(certificates=[settings.certificate_id])))
        for protocol, port, http in services:
            hcloud.LoadBalancerService(
                f"{name}-{protocol}",
                load_balancer_id=self.lb.id,
                protocol=protocol,
                listen_port=port,
                destination_port=web.port,
                health_check=health,
                http=http,
                opts=child,
            )
        self.register_outputs({})


def _zone(location: str) -> str:
    return {"ash": "us-east", "hil": "us-west", "sin": "ap-southeast"}.get(location, "eu-central")


def _db_cloud_init(
    spec: ServiceSpec,
    volume_id: Any,
    db_ip: str,
    app_ips: list[str],
    pg_password: str | None,
    redis_password: str | None,
) -> str:
    """Mount the volume, run Postgres/Redis bound to the private address, admit only the app."""
    device = f"/dev/disk/by-id/scsi-0HC_Volume_{volume_id}"
    lines = [
        "set -eu",
        "apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -yq docker.io",
        f"while [ ! -e {device} ]; do sleep 2; done",
        f"mkdir -p {DATA_MOUNT}",
        f"grep -q {DATA_MOUNT} /etc/fstab || "
        f"echo '{device} {DATA_MOUNT} ext4 discard,nofail,defaults 0 0' >> /etc/fstab",
        f"mountpoint -q {DATA_MOUNT} || mount {DATA_MOUNT}",
    ]
    files: dict[str, str] = {}
    ports = []
    if spec.postgres is not None and pg_password is not None:
        pg = spec.postgres
        files["/etc/migrate/postgres.env"] = common.env_file_text(
            {
                "POSTGRES_USER": pg.user,
                "POSTGRES_PASSWORD": pg_password,
                "POSTGRES_DB": pg.database,
                "PGDATA": "/var/lib/postgresql/data/pgdata",
            }
        )
        lines.append(
            "docker rm -f postgres >/dev/null 2>&1 || true; docker run -d --name postgres "
            f"--restart unless-stopped --env-file /etc/migrate/postgres.env "
            f"-v {DATA_MOUNT}/postgres:/var/lib/postgresql/data -p {db_ip}:5432:5432 "
            f"postgres:{pg.version}"
        )
        ports.append(5432)
    if spec.redis is not None and redis_password is not None:
        files["/etc/migrate/redis.conf"] = f"requirepass {redis_password}\nappendonly yes\ndir /data\n"
        lines.append(
            "docker rm -f redis >/dev/null 2>&1 || true; docker run -d --name redis "
            f"--restart unless-stopped -v {DATA_MOUNT}/redis:/data "
            f"-v /etc/migrate/redis.conf:/usr/local/etc/redis/redis.conf:ro -p {db_ip}:6379:6379 "
            f"redis:{spec.redis.version} redis-server /usr/local/etc/redis/redis.conf"
        )
        ports.append(6379)
    for port in ports:
        # Docker's own chain, consulted before its DNAT rules: the app servers only.
        lines.append(f"iptables -I DOCKER-USER -p tcp -m conntrack --ctorigdstport {port} -j DROP")
        for ip in app_ips:
            lines.append(f"iptables -I DOCKER-USER -p tcp -s {ip} -m conntrack --ctorigdstport {port} -j RETURN")
    return common.cloud_config(files, lines)
