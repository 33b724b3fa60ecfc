"""The aws hosting adapter: ECS on Fargate, RDS Postgres, ElastiCache, S3, ALB with ACM TLS."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from providers.hosting import AdapterFinding, Capability, ChangeFeed, HostingAdapter, Supports

if TYPE_CHECKING:
    from migrate.spec.model import ServiceSpec


class AwsAdapter(HostingAdapter):
    name = "aws"
    company = "aws"
    description = "ECS on Fargate, RDS Postgres, ElastiCache, S3, ALB with ACM TLS."
    media_change_feed = ChangeFeed.SQS  # S3 event notifications into an SQS queue
    capabilities: ClassVar[dict[Capability, str]] = {
        Capability.PROCESSES: "native: ECS Fargate services",
        Capability.POSTGRES: "native: RDS",
        Capability.REDIS: "native: ElastiCache",
        Capability.OBJECT_STORAGE: "native: S3",
        Capability.LOAD_BALANCER: "native: ALB",
        Capability.TLS: "native: ACM certificate (certificate_arn)",
        Capability.DNS: "native: Route53 (keep a second DNS operator)",
    }
    plugins = (("aws", "7.51.1"), ("random", "4.21.4"))
    engine_env = ("AWS_",)  # the AWS credential chain its plugin reads (profiles, SSO, keys)
    # RDS hands out no superuser; S3 notifications go to SQS (data follow --events).
    supports = Supports(terminate=True, bucket_events=True)
    termination = (
        "ECS services scaled to 0 and their tasks stopped; every ingress rule of the target's "
        "security groups revoked (through the AWS API)"
    )
    default_s3_endpoint = True
    storage_hosts = ("amazonaws.com",)

    def audit_findings(self, spec: ServiceSpec, target: str, settings: Any) -> list[AdapterFinding]:

        findings: list[AdapterFinding] = []
        apex = [r for r in spec.dns.records if r.name == "@" and r.value is None]
        if apex:
            route53_elsewhere = [p for p in spec.dns.providers if spec.dns_providers[p].provider != "route53"]
            findings.append(
                AdapterFinding(
                    "provider-only",
                    "warning" if route53_elsewhere else "info",
                    "the ALB has no fixed address: the zone apex can follow it only through a Route53 "
                    "ALIAS (other DNS providers need their own apex-CNAME flattening)",
                    "keep the apex on a DNS provider that flattens CNAMEs, or front the ALB with fixed IPs",
                )
            )
        if getattr(settings, "certificate_arn", None):
            findings.append(
                AdapterFinding(
                    "provider-only",
                    "info",
                    "the TLS certificate is an ACM certificate and cannot be exported",
                    "the other targets must have their own certificates ready",
                )
            )
        if spec.secrets:
            findings.append(
                AdapterFinding(
                    "secrets",
                    "info",
                    "the app's secrets are copied into AWS Secrets Manager; the spec's sources "
                    "stay with you, so nothing is lost, but rotate them after the account ends",
                    "rotate secrets after a termination",
                )
            )
        return [*self.managed_backups(spec, settings, snapshot=True), *findings]

    def resource_plan(self, spec: ServiceSpec, settings: Any) -> list[tuple[str, int]]:
        processes = len(spec.processes)
        buckets = len(spec.media.buckets) if spec.media else 0
        public_buckets = sum(1 for b in spec.media.buckets if b.public) if spec.media else 0
        secrets = len(spec.secrets) + (spec.postgres is not None) + (spec.redis is not None) + (2 if buckets else 0)
        tls = settings.certificate_arn is not None
        plan = [
            ("pulumi:providers:aws", 1),
            ("aws:ec2/vpc:Vpc", 1),
            ("aws:ec2/internetGateway:InternetGateway", 1),
            ("aws:ec2/routeTable:RouteTable", 1),
            ("aws:ec2/subnet:Subnet", 4),
            ("aws:ec2/routeTableAssociation:RouteTableAssociation", 2),
            (
                "aws:ec2/securityGroup:SecurityGroup",
                2 + (spec.postgres is not None) + (spec.redis is not None),
            ),
            (
                "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
                (2 if tls else 1) + 1 + (spec.postgres is not None) + (spec.redis is not None),
            ),
            ("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule", 2),
            ("aws:lb/loadBalancer:LoadBalancer", 1),
            ("aws:lb/targetGroup:TargetGroup", 1),
            ("aws:lb/listener:Listener", 2 if tls else 1),
            ("aws:ecs/cluster:Cluster", 1),
            ("aws:cloudwatch/logGroup:LogGroup", 1),
            ("aws:iam/role:Role", 1),
            ("aws:iam/rolePolicyAttachment:RolePolicyAttachment", 1),
            ("aws:iam/rolePolicy:RolePolicy", 1),
            ("aws:secretsmanager/secret:Secret", secrets),
            ("aws:secretsmanager/secretVersion:SecretVersion", secrets),
            ("aws:ecs/taskDefinition:TaskDefinition", processes),
            ("aws:ecs/service:Service", processes),
        ]
        if spec.postgres is not None:
            plan += [("aws:rds/subnetGroup:SubnetGroup", 1), ("aws:rds/instance:Instance", 1)]
        if spec.redis is not None:
            plan += [
                ("aws:elasticache/subnetGroup:SubnetGroup", 1),
                ("aws:elasticache/replicationGroup:ReplicationGroup", 1),
            ]
        if buckets:
            plan += [
                ("aws:s3/bucket:Bucket", buckets),
                ("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", buckets),
                (
                    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
                    buckets,
                ),
                ("aws:iam/user:User", 1),
                ("aws:iam/userPolicy:UserPolicy", 1),
                ("aws:iam/accessKey:AccessKey", 1),
            ]
            if public_buckets:
                plan.append(("aws:s3/bucketPolicy:BucketPolicy", public_buckets))
        passwords = (spec.postgres is not None) + (spec.redis is not None)
        if passwords:
            plan.append(("random:index/randomPassword:RandomPassword", passwords))
        # The stack's parts (ComponentResources), one per concern the spec asks for.
        parts = ["Network", "Front", "App"]
        parts += ["Database"] * (spec.postgres is not None) + ["Cache"] * (spec.redis is not None)
        parts += ["Media"] * bool(buckets)
        plan += [(f"migrate:aws:{part}", 1) for part in parts]
        return plan
