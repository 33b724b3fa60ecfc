"""Terminating an aws target through the AWS API: what an account suspension leaves behind.

Every ECS service the target's cluster runs is scaled to 0 and its running tasks stopped at
once (``StopTask``, no draining), and every ingress rule of the target's security groups is
revoked, so the load balancer, the database and the cache accept nothing. Resources are
found by the tags every aws stack puts on them (``app``, ``migrate-target``,
``managed-by=migrate``); nothing is deleted and no Pulumi call is made, so the stack still
believes it all runs and ``migrate up --refresh`` puts it back. Tested against moto (the
AWS emulator), which implements these ECS and EC2 calls.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from migrate.errors import MigrateError
from providers.hosting import Cut, Termination

if TYPE_CHECKING:
    from migrate.spec.model import ServiceSpec


def target_tags(spec: ServiceSpec, target: str) -> dict[str, str]:
    return {"app": spec.service.name, "migrate-target": target, "managed-by": "migrate"}


def client(service: str, settings: Any) -> Any:
    import boto3
    from botocore.config import Config

    kwargs: dict[str, Any] = {}
    if settings.access_key_id is not None and settings.secret_access_key is not None:
        kwargs["aws_access_key_id"] = settings.access_key_id.resolve("access_key_id")
        kwargs["aws_secret_access_key"] = settings.secret_access_key.resolve("secret_access_key")
    session = boto3.session.Session(profile_name=settings.profile) if settings.profile else boto3
    config = Config(retries={"max_attempts": 5, "mode": "adaptive"}, connect_timeout=5, read_timeout=15)
    return session.client(service, region_name=settings.region, config=config, **kwargs)


def terminate(spec: ServiceSpec, target: str, settings: Any) -> Termination:
    from botocore.exceptions import BotoCoreError, ClientError

    cut = Cut(target, settings.region)
    tags = target_tags(spec, target)
    try:
        cut.stopped.update(_stop_services(client("ecs", settings), tags))
        cut.stopped.update(_close_groups(client("ec2", settings), tags))
    except (BotoCoreError, ClientError) as exc:
        raise MigrateError(f"terminate {target} (aws {settings.region}): {exc}") from None
    services, groups = cut.count("service"), cut.count("security-group")
    return cut.done(
        f"{services} ECS services scaled to 0, their tasks stopped; ingress of {groups} security groups revoked"
    )


def _tagged(resource_tags: list[dict[str, str]], wanted: dict[str, str]) -> bool:
    have = {t["key"]: t["value"] for t in resource_tags}
    return all(have.get(k) == v for k, v in wanted.items())


def _stop_services(ecs: Any, tags: dict[str, str]) -> dict[str, Any]:
    stopped: dict[str, Any] = {}
    arns = [arn for page in ecs.get_paginator("list_clusters").paginate() for arn in page["clusterArns"]]
    for start in range(0, len(arns), 100):
        described = ecs.describe_clusters(clusters=arns[start : start + 100], include=["TAGS"])["clusters"]
        for cluster in (c for c in described if _tagged(c.get("tags", []), tags)):
            arn = cluster["clusterArn"]
            pages = ecs.get_paginator("list_services").paginate(cluster=arn)
            services = [s for page in pages for s in page["serviceArns"]]
            for service in services:
                ecs.update_service(cluster=arn, service=service, desiredCount=0)
                stopped[f"service:{service.rsplit('/', 1)[-1]}"] = service
            tasks = [t for page in ecs.get_paginator("list_tasks").paginate(cluster=arn) for t in page["taskArns"]]
            for task in tasks:
                ecs.stop_task(cluster=arn, task=task, reason="migrate chaos terminate")
                stopped[f"task:{task.rsplit('/', 1)[-1]}"] = task
    return stopped


def _close_groups(ec2: Any, tags: dict[str, str]) -> dict[str, Any]:
    stopped: dict[str, Any] = {}
    filters = [{"Name": f"tag:{k}", "Values": [v]} for k, v in tags.items()]
    for page in ec2.get_paginator("describe_security_groups").paginate(Filters=filters):
        for group in page["SecurityGroups"]:
            if group.get("IpPermissions"):
                ec2.revoke_security_group_ingress(GroupId=group["GroupId"], IpPermissions=group["IpPermissions"])
            stopped[f"security-group:{group['GroupId']}"] = len(group.get("IpPermissions", []))
    return stopped
