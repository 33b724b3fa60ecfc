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


def build(spec: ServiceSpec, target: str, settings: AwsSettings) -> None:
    check(spec)
    name = common.base_name(spec, target)
    tags = common.labels(spec, target)
    opts = pulumi.ResourceOptions(provider=provider_for(settings))
    spec_secrets = common.resolve_spec_secrets(spec)

    # --- network
    vpc = aws.ec2.Vpc(
        f"{name}-vpc",
        cidr_block=settings.vpc_cidr,
        enable_dns_hostnames=True,
        enable_dns_support=True,
        tags=tags,
        opts=opts,
    )
    zones = aws.get_availability_zones(state="available", opts=pulumi.InvokeOptions(provider=opts.provider)).names[:2]
    igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, tags=tags, opts=opts)
    public_rt = aws.ec2.RouteTable(
        f"{name}-public",
        vpc_id=vpc.id,
        routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=igw.id)],
        tags=tags,
        opts=opts,
    )
    public_subnets, private_subnets = [], []
    for i, zone in enumerate(zones):
        public = aws.ec2.Subnet(
            f"{name}-public-{i}",
            vpc_id=vpc.id,
            availability_zone=zone,
            cidr_block=_subnet(settings.vpc_cidr, i),
            map_public_ip_on_launch=True,
            tags=tags,
            opts=opts,
        )
        aws.ec2.RouteTableAssociation(f"{name}-public-{i}", subnet_id=public.id, route_table_id=public_rt.id, opts=opts)
        private = aws.ec2.Subnet(
            f"{name}-private-{i}",
            vpc_id=vpc.id,
            availability_zone=zone,
            cidr_block=_subnet(settings.vpc_cidr, 10 + i),
            tags=tags,
            opts=opts,
        )
        public_subnets.append(public)
        private_subnets.append(private)

    # --- security groups: internet -> ALB -> app -> (db, cache)
    web_name, web = common.public_process(spec)
    assert web.port is not None
    alb_sg = aws.ec2.SecurityGroup(f"{name}-alb", vpc_id=vpc.id, description="load balancer", tags=tags, opts=opts)
    app_sg = aws.ec2.SecurityGroup(f"{name}-app", vpc_id=vpc.id, description="app tasks", tags=tags, opts=opts)
    tls = settings.certificate_arn is not None
    for port in (80, 443) if tls else (80,):
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-alb-in-{port}",
            security_group_id=alb_sg.id,
            ip_protocol="tcp",
            from_port=port,
            to_port=port,
            cidr_ipv4="0.0.0.0/0",
            opts=opts,
        )
    aws.vpc.SecurityGroupEgressRule(
        f"{name}-alb-out",
        security_group_id=alb_sg.id,
        ip_protocol="tcp",
        from_port=web.port,
        to_port=web.port,
        referenced_security_group_id=app_sg.id,
        opts=opts,
    )
    aws.vpc.SecurityGroupIngressRule(
        f"{name}-app-from-alb",
        security_group_id=app_sg.id,
        ip_protocol="tcp",
        from_port=web.port,
        to_port=web.port,
        referenced_security_group_id=alb_sg.id,
        opts=opts,
    )
    aws.vpc.SecurityGroupEgressRule(
        f"{name}-app-out",
        security_group_id=app_sg.id,
        ip_protocol="-1",
        cidr_ipv4="0.0.0.0/0",
        opts=opts,
    )

    links = common.ServiceLinks(s3_region=settings.region)

    # --- Postgres (RDS), reachable from the app's security group only
    if spec.postgres is not None:
        pg = spec.postgres
        db_sg = aws.ec2.SecurityGroup(f"{name}-db", vpc_id=vpc.id, description="postgres", tags=tags, opts=opts)
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-db-from-app",
            security_group_id=db_sg.id,
            ip_protocol="tcp",
            from_port=5432,
            to_port=5432,
            referenced_security_group_id=app_sg.id,
            opts=opts,
        )
        subnet_group = aws.rds.SubnetGroup(
            f"{name}-db", subnet_ids=[s.id for s in private_subnets], tags=tags, opts=opts
        )
        password = common.random_password(f"{name}-db-password", opts=opts)
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
            opts=opts,
        )
        links.database_url = common.postgres_url(pg.user, password, db.address, db.port, pg.database, sslmode="require")

    # --- Redis (ElastiCache), TLS and an auth token, app only
    if spec.redis is not None:
        cache_sg = aws.ec2.SecurityGroup(f"{name}-cache", vpc_id=vpc.id, description="redis", tags=tags, opts=opts)
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-cache-from-app",
            security_group_id=cache_sg.id,
            ip_protocol="tcp",
            from_port=6379,
            to_port=6379,
            referenced_security_group_id=app_sg.id,
            opts=opts,
        )
        cache_subnets = aws.elasticache.SubnetGroup(
            f"{name}-cache", subnet_ids=[s.id for s in private_subnets], opts=opts
        )
        token = common.random_password(f"{name}-cache-token", opts=opts)
        cache = aws.elasticache.ReplicationGroup(
            f"{name}-cache",
            description=f"{spec.service.name} redis ({target})",
            engine="redis",
            engine_version=spec.redis.version,
            node_type=CACHE_NODES[spec.redis.size],
            num_cache_clusters=1,
            port=6379,
            subnet_group_name=cache_subnets.name,
            security_group_ids=[cache_sg.id],
            transit_encryption_enabled=True,
            at_rest_encryption_enabled=True,
            auth_token=token,
            tags=tags,
            opts=opts,
        )
        links.redis_url = common.redis_url(token, cache.primary_endpoint_address, 6379, tls=True)

    # --- S3 media, with an IAM user whose keys the app and the data mover use
    buckets: dict[str, aws.s3.Bucket] = {}
    if spec.media is not None:
        for b in spec.media.buckets:
            bucket = aws.s3.Bucket(
                f"{name}-{b.name}",
                bucket_prefix=common.slug(f"{b.name}-", 37),
                tags=tags,
                opts=opts,
            )
            aws.s3.BucketPublicAccessBlock(
                f"{name}-{b.name}",
                bucket=bucket.id,
                block_public_acls=True,
                ignore_public_acls=True,
                block_public_policy=not b.public,
                restrict_public_buckets=not b.public,
                opts=opts,
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
                opts=opts,
            )
            if b.public:
                aws.s3.BucketPolicy(
                    f"{name}-{b.name}-public-read",
                    bucket=bucket.id,
                    policy=bucket.arn.apply(common.public_read_policy),
                    opts=opts,
                )
            buckets[b.name] = bucket
        user = aws.iam.User(f"{name}-media", tags=tags, opts=opts)
        aws.iam.UserPolicy(
            f"{name}-media",
            user=user.name,
            policy=pulumi.Output.all(*[b.arn for b in buckets.values()]).apply(_bucket_access_policy),
            opts=opts,
        )
        access_key = aws.iam.AccessKey(f"{name}-media", user=user.name, opts=opts)
        links.s3_endpoint = f"https://s3.{settings.region}.amazonaws.com"
        links.s3_buckets = {k: b.bucket for k, b in buckets.items()}
        links.s3_access_key = pulumi.Output.secret(access_key.id)
        links.s3_secret_key = pulumi.Output.secret(access_key.secret)

    # --- load balancer
    alb = aws.lb.LoadBalancer(
        f"{name}-alb"[:24],
        load_balancer_type="application",
        internal=False,
        security_groups=[alb_sg.id],
        subnets=[s.id for s in public_subnets],
        tags=tags,
        opts=opts,
    )
    target_group = aws.lb.TargetGroup(
        f"{name}-{web_name}"[:24],
        port=web.port,
        protocol="HTTP",
        target_type="ip",
        vpc_id=vpc.id,
        health_check=aws.lb.TargetGroupHealthCheckArgs(
            path=web.health_path,
            protocol="HTTP",
            matcher="200-399",
            interval=15,
            healthy_threshold=2,
            unhealthy_threshold=3,
        ),
        tags=tags,
        opts=opts,
    )
    forward = [aws.lb.ListenerDefaultActionArgs(type="forward", target_group_arn=target_group.arn)]
    if tls:
        aws.lb.Listener(
            f"{name}-https",
            load_balancer_arn=alb.arn,
            port=443,
            protocol="HTTPS",
            ssl_policy="ELBSecurityPolicy-TLS13-1-2-2021-06",
            certificate_arn=settings.certificate_arn,
            default_actions=forward,
            opts=opts,
        )
    # Port 80 forwards too: health URLs and the first probe after a DNS swing speak HTTP.
    http_listener = aws.lb.Listener(
        f"{name}-http",
        load_balancer_arn=alb.arn,
        port=80,
        protocol="HTTP",
        default_actions=forward,
        opts=opts,
    )

    # --- the app: one Fargate service per process, secrets from Secrets Manager
    cluster = aws.ecs.Cluster(f"{name}", tags=tags, opts=opts)
    logs = aws.cloudwatch.LogGroup(f"{name}-logs", retention_in_days=30, tags=tags, opts=opts)
    execution_role = aws.iam.Role(f"{name}-exec", assume_role_policy=json.dumps(_ecs_trust()), tags=tags, opts=opts)
    aws.iam.RolePolicyAttachment(
        f"{name}-exec",
        role=execution_role.name,
        policy_arn="arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy",
        opts=opts,
    )
    secret_arns: dict[str, pulumi.Output[str]] = {}
    env_by_process = {p: common.app_environment(spec, p, links, spec_secrets) for p in spec.processes}
    all_secret_keys = sorted({k for env in env_by_process.values() for k in env.secret})
    any_env = next(iter(env_by_process.values()))
    for key in all_secret_keys:
        secret = aws.secretsmanager.Secret(
            f"{name}-{common.slug(key)}", name_prefix=f"{name}/{key}-", tags=tags, opts=opts
        )
        aws.secretsmanager.SecretVersion(
            f"{name}-{common.slug(key)}",
            secret_id=secret.id,
            secret_string=any_env.secret[key],
            opts=opts,
        )
        secret_arns[key] = secret.arn
    aws.iam.RolePolicy(
        f"{name}-exec-secrets",
        role=execution_role.id,
        policy=pulumi.Output.all(*secret_arns.values()).apply(_read_secrets_policy),
        opts=opts,
    )

    for process_name, process in spec.processes.items():
        env = env_by_process[process_name]
        definition = pulumi.Output.all(
            plain=pulumi.Output.all(**env.plain) if env.plain else {},
            arns=pulumi.Output.all(**{k: secret_arns[k] for k in env.secret}) if env.secret else {},
            log_group=logs.name,
        ).apply(functools.partial(_definitions, process_name, process, settings.region))
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
            opts=opts,
        )
        load_balancers = []
        if process_name == web_name:
            load_balancers = [
                aws.ecs.ServiceLoadBalancerArgs(
                    target_group_arn=target_group.arn,
                    container_name=process_name,
                    container_port=web.port,
                )
            ]
        aws.ecs.Service(
            f"{name}-{process_name}",
            cluster=cluster.arn,
            task_definition=task.arn,
            desired_count=process.replicas,
            launch_type="FARGATE",
            network_configuration=aws.ecs.ServiceNetworkConfigurationArgs(
                subnets=[s.id for s in public_subnets],
                security_groups=[app_sg.id],
                assign_public_ip=True,
            ),
            load_balancers=load_balancers,
            health_check_grace_period_seconds=60 if load_balancers else None,
            tags=tags,
            # ECS refuses a target group that no listener uses yet.
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[http_listener])),
        )

    common.export_outputs(
        target=target,
        provider="aws",
        links=links,
        public_addresses=[],
        public_hostname=alb.dns_name,
        http_port=80,
        health_url=common.health_url(alb.dns_name, 80, web.health_path),
    )


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
