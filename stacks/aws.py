"""The aws stack: ECS on Fargate behind an ALB, RDS Postgres, ElastiCache, S3.

Why Fargate (not EC2): no instances to patch or size, one task per replica, and the
ALB registers tasks by IP. Network: two public subnets (ALB and tasks, which get a
public IP only to pull images; their security group admits nothing but the ALB) and
two private subnets with no route out (RDS, ElastiCache), so no NAT gateway is paid
for. The database and cache security groups admit only the app's security group.
Secrets reach containers through Secrets Manager, never as plain task-definition env.
"""

from __future__ import annotations

import functools
import json
from typing import TYPE_CHECKING, Any

import pulumi
import pulumi_aws as aws

from stacks import cloud_common as common

if TYPE_CHECKING:
    from migrate.spec.model import Process, ServiceSpec
    from providers.aws.settings import AwsSettings
    from providers.hosting import RunContext

RDS_CLASSES = {"small": "db.t4g.small", "medium": "db.m7g.large", "large": "db.m7g.2xlarge"}
CACHE_NODES = {
    "small": "cache.t4g.small",
    "medium": "cache.m7g.large",
    "large": "cache.m7g.2xlarge",
}
# Fargate task sizes per process (vCPU units, MiB), by the spec's postgres size as a hint.
TASK_SIZE = (512, 1024)


def provider_for(settings: AwsSettings) -> aws.Provider:
    args: dict[str, Any] = {"region": settings.region}
    if settings.profile:
        args["profile"] = settings.profile
    if settings.access_key_id and settings.secret_access_key:
        args["access_key"] = pulumi.Output.secret(settings.access_key_id.resolve("access_key_id"))
        args["secret_key"] = pulumi.Output.secret(settings.secret_access_key.resolve("secret_access_key"))
    return aws.Provider("aws", **args)


def check(spec: ServiceSpec) -> None:
    """What this adapter cannot serve, as one clear error before anything is declared."""
    common.require_images(spec, "aws")
    common.public_process(spec)


def build(spec: ServiceSpec, target: str, settings: AwsSettings, context: RunContext) -> None:
    """The target as six parts, each a ComponentResource: network, database, cache, media,
    front (the load balancer) and app. A part takes only what it needs from the ones before."""
    check(spec)
    b = common.Build(spec, target, settings, pulumi.ResourceOptions(provider=provider_for(settings)))
    web_name, web = common.public_process(spec)
    assert web.port is not None
    tls = settings.certificate_arn is not None

    network = Network(b, web.port, tls)
    links = common.ServiceLinks(s3_region=settings.region, tls=tls)
    if spec.postgres is not None:
        links.database_url = Database(b, network).url
    if spec.redis is not None:
        links.redis_url = Cache(b, network).url
    if spec.media is not None:
        Media(b).link(links)
    front = Front(b, web_name, web, network)
    App(b, links, network, front)

    common.export_outputs(
        target=target,
        provider="aws",
        links=links,
        public_addresses=[],
        public_hostname=front.alb.dns_name,
        http_port=80,
        health_url=common.health_url(front.alb.dns_name, 80, web.health_path),
    )


class _Part(common.TargetPart):
    """An aws part: its resources carry the target's tags."""

    adapter = "aws"

    def __init__(self, b: common.Build[AwsSettings]) -> None:
        super().__init__(b)
        self.tags = b.labels


class Network(_Part):
    """A VPC with two public subnets (ALB, tasks) and two private ones with no route out (RDS,
    ElastiCache); security groups internet -> ALB -> app."""

    def __init__(self, b: common.Build[AwsSettings], web_port: int, tls: bool) -> None:
        super().__init__(b)
        name, settings, tags, child = b.name, b.settings, self.tags, self.child
        self.vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=settings.vpc_cidr,
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags=tags,
            opts=child,
        )
        invoke = pulumi.InvokeOptions(provider=b.opts.provider)
        zones = aws.get_availability_zones(state="available", opts=invoke).names[:2]
        igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=self.vpc.id, tags=tags, opts=child)
        public_rt = aws.ec2.RouteTable(
            f"{name}-public",
            vpc_id=self.vpc.id,
            routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=igw.id)],
            tags=tags,
            opts=child,
        )
        self.public_subnets: list[aws.ec2.Subnet] = []
        self.private_subnets: list[aws.ec2.Subnet] = []
        for i, zone in enumerate(zones):
            public = aws.ec2.Subnet(
                f"{name}-public-{i}",
                vpc_id=self.vpc.id,
                availability_zone=zone,
                cidr_block=_subnet(settings.vpc_cidr, i),
                map_public_ip_on_launch=True,
                tags=tags,
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-public-{i}", subnet_id=public.id, route_table_id=public_rt.id, opts=child
            )
            private = aws.ec2.Subnet(
                f"{name}-private-{i}",
                vpc_id=self.vpc.id,
                availability_zone=zone,
                cidr_block=_subnet(settings.vpc_cidr, 10 + i),
                tags=tags,
                opts=child,
            )
            self.public_subnets.append(public)
            self.private_subnets.append(private)
        self.private_subnet_ids = [s.id for s in self.private_subnets]

        vpc_id = self.vpc.id
        self.alb_sg = aws.ec2.SecurityGroup(
            f"{name}-alb", vpc_id=vpc_id, description="load balancer", tags=tags, opts=child
        )
        self.app_sg = aws.ec2.SecurityGroup(
            f"{name}-app", vpc_id=vpc_id, description="app tasks", tags=tags, opts=child
        )
        for port in (80, 443) if tls else (80,):
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-alb-in-{port}",
                security_group_id=self.alb_sg.id,
                ip_protocol="tcp",
                from_port=port,
                to_port=port,
                cidr_ipv4="0.0.0.0/0",
                opts=child,
            )
        aws.vpc.SecurityGroupEgressRule(
            f"{name}-alb-out",
            security_group_id=self.alb_sg.id,
            ip_protocol="tcp",
            from_port=web_port,
            to_port=web_port,
            referenced_security_group_id=self.app_sg.id,
            opts=child,
        )
        self.admit_from_app(f"{name}-app-from-alb", self.app_sg, web_port, source=self.alb_sg)
        aws.vpc.SecurityGroupEgressRule(
            f"{name}-app-out",
            security_group_id=self.app_sg.id,
            ip_protocol="-1",
            cidr_ipv4="0.0.0.0/0",
            opts=child,
        )
        self.register_outputs({})

    def admit_from_app(
        self, rule: str, group: aws.ec2.SecurityGroup, port: int, source: aws.ec2.SecurityGroup | None = None
    ) -> None:
        """``group`` admits TCP ``port`` from the app's security group (or ``source``) only."""
        aws.vpc.SecurityGroupIngressRule(
            rule,
            security_group_id=group.id,
            ip_protocol="tcp",
            from_port=port,
            to_port=port,
            referenced_security_group_id=(source or self.app_sg).id,
            opts=self.child,
        )

    def private_group(self, name: str, description: str, port: int) -> aws.ec2.SecurityGroup:
        """A security group for a data service, reachable from the app's tasks only."""
        group = aws.ec2.SecurityGroup(
            name, vpc_id=self.vpc.id, description=description, tags=self.tags, opts=self.child
        )
        self.admit_from_app(f"{name}-from-app", group, port)
        return group


class Database(_Part):
    """RDS Postgres in the private subnets, encrypted, reachable from the app only."""

    def __init__(self, b: common.Build[AwsSettings], network: Network) -> None:
        super().__init__(b)
        name, tags, pg = b.name, self.tags, b.spec.postgres
        assert pg is not None
        db_sg = network.private_group(f"{name}-db", "postgres", 5432)
        subnet_group = aws.rds.SubnetGroup(
            f"{name}-db", subnet_ids=network.private_subnet_ids, tags=tags, opts=self.child
        )
        password = common.random_password(f"{name}-db-password", opts=self.child)
        db = aws.rds.Instance(
            f"{name}-db",
            engine="postgres",
            engine_version=str(pg.version),
            instance_class=RDS_CLASSES[pg.size],
            allocated_storage=pg.storage_gb,
            db_name=pg.database,
            username=pg.user,
            password=password,
            db_subnet_group_name=subnet_group.name,
            vpc_security_group_ids=[db_sg.id],
            publicly_accessible=False,
            storage_encrypted=True,
            backup_retention_period=7,
            skip_final_snapshot=False,
            final_snapshot_identifier=f"{name}-db-final",
            tags=tags,
            opts=self.child,
        )
        self.url = common.postgres_url(pg.user, password, db.address, db.port, pg.database, sslmode="require")
        self.register_outputs({})


class Cache(_Part):
    """ElastiCache Redis with TLS and an auth token, reachable from the app only."""

    def __init__(self, b: common.Build[AwsSettings], network: Network) -> None:
        super().__init__(b)
        name, tags, redis = b.name, self.tags, b.spec.redis
        assert redis is not None
        cache_sg = network.private_group(f"{name}-cache", "redis", 6379)
        cache_subnets = aws.elasticache.SubnetGroup(
            f"{name}-cache", subnet_ids=network.private_subnet_ids, opts=self.child
        )
        token = common.random_password(f"{name}-cache-token", opts=self.child)
        cache = aws.elasticache.ReplicationGroup(
            f"{name}-cache",
            description=f"{b.spec.service.name} redis ({b.target})",
            engine="redis",
            engine_version=redis.version,
            node_type=CACHE_NODES[redis.size],
            num_cache_clusters=1,
            port=6379,
            subnet_group_name=cache_subnets.name,
            security_group_ids=[cache_sg.id],
            transit_encryption_enabled=True,
            at_rest_encryption_enabled=True,
            auth_token=token,
            tags=tags,
            opts=self.child,
        )
        self.url = common.redis_url(token, cache.primary_endpoint_address, 6379, tls=True)
        self.register_outputs({})


class Media(_Part):
    """The spec's buckets (encrypted, public only where asked) and an IAM user whose keys the
    app and the data mover use."""

    def __init__(self, build: common.Build[AwsSettings]) -> None:
        super().__init__(build)
        assert build.spec.media is not None
        name, tags, child = build.name, self.tags, self.child
        self.region = build.settings.region
        self.buckets: dict[str, aws.s3.Bucket] = {}
        for b in build.spec.media.buckets:
            bucket = aws.s3.Bucket(
                f"{name}-{b.name}", bucket_prefix=common.slug(f"{b.name}-", 37), tags=tags, opts=child
            )
            aws.s3.BucketPublicAccessBlock(
                f"{name}-{b.name}",
                bucket=bucket.id,
                block_public_acls=True,
                ignore_public_acls=True,
                block_public_policy=not b.public,
                restrict_public_buckets=not b.public,
                opts=child,
            )
            aws.s3.BucketServerSideEncryptionConfiguration(
                f"{name}-{b.name}",
                bucket=bucket.id,
                rules=[
                    aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                        apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                            sse_algorithm="AES256"
                        )
                    )
                ],
                opts=child,
            )
            if b.public:
                aws.s3.BucketPolicy(
                    f"{name}-{b.name}-public-read",
                    bucket=bucket.id,
                    policy=bucket.arn.apply(common.public_read_policy),
                    opts=child,
                )
            self.buckets[b.name] = bucket
        user = aws.iam.User(f"{name}-media", tags=tags, opts=child)
        aws.iam.UserPolicy(
            f"{name}-media",
            user=user.name,
            policy=pulumi.Output.all(*[b.arn for b in self.buckets.values()]).apply(_bucket_access_policy),
            opts=child,
        )
        self.access_key = aws.iam.AccessKey(f"{name}-media", user=user.name, opts=child)
        self.register_outputs({})

    def link(self, links: common.ServiceLinks) -> None:
        links.set_media(
            f"https://s3.{self.region}.amazonaws.com",
            {k: b.bucket for k, b in self.buckets.items()},
            self.access_key.id,
            self.access_key.secret,
        )


class Front(_Part):
    """The application load balancer: HTTPS with the given certificate, and HTTP, both
    forwarding to the public process's target group."""

    def __init__(self, b: common.Build[AwsSettings], web_name: str, web: Process, network: Network) -> None:
        super().__init__(b)
        name, settings, tags, child = b.name, b.settings, self.tags, self.child
        assert web.port is not None
        self.web_name, self.web_port = web_name, web.port
        self.alb = aws.lb.LoadBalancer(
            f"{name}-alb"[:24],
            load_balancer_type="application",
            internal=False,
            security_groups=[network.alb_sg.id],
            subnets=[s.id for s in network.public_subnets],
            tags=tags,
            opts=child,
        )
        self.target_group = aws.lb.TargetGroup(
            f"{name}-{web_name}"[:24],
            port=web.port,
            protocol="HTTP",
            target_type="ip",
            vpc_id=network.vpc.id,
            health_check=aws.lb.TargetGroupHealthCheckArgs(
                path=web.health_path,
                protocol="HTTP",
                matcher="200-399",
                interval=15,
                healthy_threshold=2,
                unhealthy_threshold=3,
            ),
            tags=tags,
            opts=child,
        )
        forward = [aws.lb.ListenerDefaultActionArgs(type="forward", target_group_arn=self.target_group.arn)]
        if settings.certificate_arn is not None:
            aws.lb.Listener(
                f"{name}-https",
                load_balancer_arn=self.alb.arn,
                port=443,
                protocol="HTTPS",
                ssl_policy="ELBSecurityPolicy-TLS13-1-2-2021-06",
                certificate_arn=settings.certificate_arn,
                default_actions=forward,
                opts=child,
            )
        # Port 80 forwards too: health URLs and the first probe after a DNS swing speak HTTP.
        self.http_listener = aws.lb.Listener(
            f"{name}-http",
            load_balancer_arn=self.alb.arn,
            port=80,
            protocol="HTTP",
            default_actions=forward,
            opts=child,
        )
        self.register_outputs({})


class App(_Part):
    """One Fargate service per process; secrets reach containers through Secrets Manager,
    never as plain task-definition environment."""

    def __init__(
        self, b: common.Build[AwsSettings], links: common.ServiceLinks, network: Network, front: Front
    ) -> None:
        super().__init__(b)
        name, spec, region, tags, child = b.name, b.spec, b.settings.region, self.tags, self.child
        cluster = aws.ecs.Cluster(f"{name}", tags=tags, opts=child)
        logs = aws.cloudwatch.LogGroup(f"{name}-logs", retention_in_days=30, tags=tags, opts=child)
        execution_role = aws.iam.Role(
            f"{name}-exec", assume_role_policy=json.dumps(_ecs_trust()), tags=tags, opts=child
        )
        aws.iam.RolePolicyAttachment(
            f"{name}-exec",
            role=execution_role.name,
            policy_arn="arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy",
            opts=child,
        )
        spec_secrets = common.resolve_spec_secrets(spec)
        env_by_process = {p: common.app_environment(spec, p, links, spec_secrets) for p in spec.processes}
        secret_arns = self._secrets(name, env_by_process)
        aws.iam.RolePolicy(
            f"{name}-exec-secrets",
            role=execution_role.id,
            policy=pulumi.Output.all(*secret_arns.values()).apply(_read_secrets_policy),
            opts=child,
        )
        # ECS refuses a target group that no listener uses yet.
        after_listener = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[front.http_listener]))
        for process_name, process in spec.processes.items():
            env = env_by_process[process_name]
            definition = pulumi.Output.all(
                plain=pulumi.Output.all(**env.plain) if env.plain else {},
                arns=pulumi.Output.all(**{k: secret_arns[k] for k in env.secret}) if env.secret else {},
                log_group=logs.name,
            ).apply(functools.partial(_definitions, process_name, process, region))
            task = aws.ecs.TaskDefinition(
                f"{name}-{process_name}",
                family=f"{name}-{process_name}",
                network_mode="awsvpc",
                requires_compatibilities=["FARGATE"],
                cpu=str(TASK_SIZE[0]),
                memory=str(TASK_SIZE[1]),
                execution_role_arn=execution_role.arn,
                container_definitions=definition,
                tags=tags,
                opts=child,
            )
            load_balancers = []
            if process_name == front.web_name:
                load_balancers = [
                    aws.ecs.ServiceLoadBalancerArgs(
                        target_group_arn=front.target_group.arn,
                        container_name=process_name,
                        container_port=front.web_port,
                    )
                ]
            aws.ecs.Service(
                f"{name}-{process_name}",
                cluster=cluster.arn,
                task_definition=task.arn,
                desired_count=process.replicas,
                launch_type="FARGATE",
                network_configuration=aws.ecs.ServiceNetworkConfigurationArgs(
                    subnets=[s.id for s in network.public_subnets],
                    security_groups=[network.app_sg.id],
                    assign_public_ip=True,
                ),
                load_balancers=load_balancers,
                health_check_grace_period_seconds=60 if load_balancers else None,
                tags=tags,
                opts=after_listener,
            )
        self.register_outputs({})

    def _secrets(self, name: str, env_by_process: dict[str, common.AppEnvironment]) -> dict[str, pulumi.Output[str]]:
        """One Secrets Manager secret per secret variable any process uses; their ARNs."""
        arns: dict[str, pulumi.Output[str]] = {}
        all_secret_keys = sorted({k for env in env_by_process.values() for k in env.secret})
        any_env = next(iter(env_by_process.values()))
        for key in all_secret_keys:
            secret = aws.secretsmanager.Secret(
                f"{name}-{common.slug(key)}", name_prefix=f"{name}/{key}-", tags=self.tags, opts=self.child
            )
            aws.secretsmanager.SecretVersion(
                f"{name}-{common.slug(key)}", secret_id=secret.id, secret_string=any_env.secret[key], opts=self.child
            )
            arns[key] = secret.arn
        return arns


def _subnet(vpc_cidr: str, index: int) -> str:
    import ipaddress

    network = ipaddress.ip_network(vpc_cidr)
    return str(list(network.subnets(new_prefix=max(network.prefixlen + 4, 20)))[index])


def _definitions(process_name: str, process: Process, region: str, a: dict[str, Any]) -> str:
    """The task definition's containers, once the ARNs and the log group are known."""
    return json.dumps([_container(process_name, process, a["plain"], a["arns"], a["log_group"], region)])


def _container(
    process_name: str,
    process: Any,
    plain: dict[str, str],
    secret_arns: dict[str, str],
    log_group: str,
    region: str,
) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": process_name,
        "image": process.image,
        "essential": True,
        "environment": [{"name": k, "value": str(v)} for k, v in sorted(plain.items())],
        "secrets": [{"name": k, "valueFrom": arn} for k, arn in sorted(secret_arns.items())],
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": log_group,
                "awslogs-region": region,
                "awslogs-stream-prefix": process_name,
            },
        },
    }
    command = common.container_command(process)
    if command:
        container["command"] = command
    if process.port:
        container["portMappings"] = [{"containerPort": process.port, "protocol": "tcp"}]
    return container


def _ecs_trust() -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "sts:AssumeRole",
                "Principal": {"Service": "ecs-tasks.amazonaws.com"},
            }
        ],
    }


def _read_secrets_policy(arns: list[str]) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"], "Resource": arns}],
        }
    )


def _bucket_access_policy(arns: list[str]) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": ["s3:ListBucket", "s3:GetBucketLocation"],
                    "Resource": arns,
                },
                {
                    "Effect": "Allow",
                    "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                    "Resource": [f"{a}/*" for a in arns],
                },
            ],
        }
    )
