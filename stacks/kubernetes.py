"""The kubernetes stack: any cluster from a kubeconfig.

Processes are Deployments (replicas as the spec says, probes on the health path); the
public one gets a Service and an Ingress. Kubernetes has no managed data services, so
Postgres, Redis and an S3-compatible store (versitygw, Apache-2.0) run as StatefulSets on persistent
volumes, or Postgres as a CloudNativePG ``Cluster`` when the spec asks for the operator.
NetworkPolicies admit only the app's pods to them (the cluster's network plugin must
enforce policies). Secrets live in Kubernetes Secrets, never in pod specs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pulumi
import pulumi_kubernetes as k8s

from stacks import cloud_common as common

if TYPE_CHECKING:
    from migrate.spec.model import ServiceSpec
    from providers.hosting import RunContext
    from providers.kubernetes.settings import KubernetesSettings

APP_COMPONENT = "app"
S3_PORT = 9000


def build(spec: ServiceSpec, target: str, settings: KubernetesSettings, context: RunContext) -> None:
    """The target as parts (ComponentResources): Database, Cache, ObjectStore, App, Front."""
    common.require_images(spec, "kubernetes")
    web_name, web = common.public_process(spec)
    assert web.port is not None
    svc = common.slug(spec.service.name, 40)
    ns = settings.namespace
    base_labels = {
        "app.kubernetes.io/part-of": svc,
        "app.kubernetes.io/managed-by": "migrate",
        "migrate/target": target,
    }
    provider_args: dict[str, Any] = {"namespace": ns}
    if settings.kubeconfig:
        provider_args["kubeconfig"] = os.path.expanduser(settings.kubeconfig)
    if settings.context:
        provider_args["context"] = settings.context
    provider = k8s.Provider("cluster", **provider_args)
    opts = pulumi.ResourceOptions(provider=provider)
    if settings.create_namespace and ns != "default":
        namespace = k8s.core.v1.Namespace("namespace", metadata=_meta(ns, base_labels), opts=opts)
        opts = pulumi.ResourceOptions(provider=provider, depends_on=[namespace])
    where = Placement(svc, ns, base_labels, settings)
    links = common.ServiceLinks(tls=bool(settings.tls_secret or settings.cluster_issuer))
    if spec.postgres is not None:
        links.database_url = Database(svc, spec, where, opts).url
    if spec.redis is not None:
        links.redis_url = Cache(svc, spec, where, opts).url
    if spec.media is not None:
        ObjectStore(svc, spec, target, where, opts).link(links)
    App(svc, spec, where, links, opts)
    front = Front(svc, spec, web_name, web.port, where, opts)
    lb = front.ingress.status.apply(_ingress_address)
    address = lb.apply(lambda a: a[0] or a[1] or "")
    common.export_outputs(
        target=target,
        provider="kubernetes",
        links=links,
        public_addresses=lb.apply(lambda a: [a[0]] if a[0] else []),
        public_hostname=lb.apply(lambda a: a[1]),
        http_port=80,
        health_url=common.health_url(address, 80, web.health_path),
    )


@dataclass(frozen=True)
class Placement:
    """Where the target's objects go and how they are labelled: the namespace, the service's
    slug, the labels every object carries, the target's settings."""

    svc: str
    ns: str
    base_labels: dict[str, str]
    settings: KubernetesSettings

    def labels(self, component: str, **extra: str) -> dict[str, str]:
        return {**self.base_labels, "app.kubernetes.io/component": component, **extra}

    def component(self, component: str) -> dict[str, str]:
        """The selector of a data component's pods."""
        return {"app.kubernetes.io/part-of": self.svc, "app.kubernetes.io/component": component}


class _Part(common.StackPart):
    adapter = "kubernetes"

    def only_app(self, where: Placement, component: str, port: int, selector: dict[str, str]) -> None:
        """A NetworkPolicy admitting only the app's pods to ``component`` on ``port``."""
        name = f"{where.svc}-{component}-from-app"
        k8s.networking.v1.NetworkPolicy(
            name,
            metadata=_meta(name, where.base_labels, where.ns),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                policy_types=["Ingress"],
                ingress=[
                    k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                        from_=[
                            k8s.networking.v1.NetworkPolicyPeerArgs(
                                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=where.component(APP_COMPONENT))
                            )
                        ],
                        ports=[k8s.networking.v1.NetworkPolicyPortArgs(port=port, protocol="TCP")],
                    )
                ],
            ),
            opts=self.child,
        )


class Database(_Part):
    """Postgres: a StatefulSet on a volume, or a CloudNativePG ``Cluster``; app pods only."""

    def __init__(self, svc: str, spec: ServiceSpec, where: Placement, opts: pulumi.ResourceOptions) -> None:
        super().__init__(f"{svc}-postgres", opts)
        pg = spec.postgres
        assert pg is not None
        password = common.random_password(f"{svc}-postgres-password", opts=pulumi.ResourceOptions(parent=self))
        if where.settings.postgres == "cloudnative-pg":
            host = _cnpg(spec, svc, where.ns, where.settings, password, where.labels("postgres"), self.child)
            self.only_app(where, "postgres", 5432, {"cnpg.io/cluster": f"{svc}-postgres"})
        else:
            host = _stateful(
                where,
                "postgres",
                image=f"postgres:{pg.version}",
                port=5432,
                env_secret={
                    "POSTGRES_USER": pg.user,
                    "POSTGRES_PASSWORD": password,
                    "POSTGRES_DB": pg.database,
                    "PGDATA": "/data/pgdata",
                },
                data_path="/data",
                storage_gb=pg.storage_gb,
                opts=self.child,
                probe=k8s.core.v1.ProbeArgs(
                    exec_=k8s.core.v1.ExecActionArgs(command=["pg_isready", "-U", pg.user, "-d", pg.database]),
                    period_seconds=5,
                ),
            )
            self.only_app(where, "postgres", 5432, where.component("postgres"))
        self.url = common.postgres_url(pg.user, password, host, 5432, pg.database)
        self.register_outputs({})


class Cache(_Part):
    """Redis with append-only persistence and a password, app pods only."""

    def __init__(self, svc: str, spec: ServiceSpec, where: Placement, opts: pulumi.ResourceOptions) -> None:
        super().__init__(f"{svc}-redis", opts)
        assert spec.redis is not None
        password = common.random_password(f"{svc}-redis-password", opts=pulumi.ResourceOptions(parent=self))
        host = _stateful(
            where,
            "redis",
            image=f"redis:{spec.redis.version}",
            port=6379,
            env_secret={"REDIS_PASSWORD": password},
            data_path="/data",
            storage_gb=5,
            opts=self.child,
            args=["sh", "-c", 'exec redis-server --appendonly yes --requirepass "$REDIS_PASSWORD"'],
            probe=k8s.core.v1.ProbeArgs(tcp_socket=k8s.core.v1.TCPSocketActionArgs(port=6379), period_seconds=5),
        )
        self.only_app(where, "redis", 6379, where.component("redis"))
        self.url = common.redis_url(password, host, 6379)
        self.register_outputs({})


class ObjectStore(_Part):
    """A self-run S3-compatible store (versitygw, Apache-2.0, objects as files on its
    volume), a Job creating the spec's buckets with the AWS CLI, app pods only."""

    def __init__(
        self, svc: str, spec: ServiceSpec, target: str, where: Placement, opts: pulumi.ResourceOptions
    ) -> None:
        super().__init__(f"{svc}-s3", opts)
        assert spec.media is not None
        mine = pulumi.ResourceOptions(parent=self)
        self.access = common.random_password(f"{svc}-s3-access-key", length=20, opts=mine)
        self.secret = common.random_password(f"{svc}-s3-secret-key", length=40, opts=mine)
        host = _stateful(
            where,
            "s3",
            image=where.settings.object_store_image,
            port=S3_PORT,
            env_secret={"ROOT_ACCESS_KEY": self.access, "ROOT_SECRET_KEY": self.secret},
            env={
                "VGW_BACKEND": "posix",
                "VGW_BACKEND_ARG": "/data",
                "VGW_PORT": f":{S3_PORT}",
                "VGW_HEALTH": "/_health",
            },
            data_path="/data",
            storage_gb=20,
            opts=self.child,
            probe=k8s.core.v1.ProbeArgs(
                http_get=k8s.core.v1.HTTPGetActionArgs(path="/_health", port=S3_PORT), period_seconds=5
            ),
        )
        # Both the app and the bucket-creating job need it; nothing else.
        self.endpoint = f"http://{host}:{S3_PORT}"
        self.buckets = {b.name: common.bucket_name(spec, target, b.name) for b in spec.media.buckets}
        aws = f"aws --endpoint-url {self.endpoint} --region us-east-1"
        # Idempotent: a re-run of the Job (or a second up) finds the buckets there.
        steps = [
            f"({aws} s3api head-bucket --bucket {real} || {aws} s3api create-bucket --bucket {real})"
            for real in self.buckets.values()
        ]
        for b in spec.media.buckets:
            if b.public:
                real = self.buckets[b.name]
                policy = common.public_read_policy(f"arn:aws:s3:::{real}").replace("'", "")
                steps.append(f"{aws} s3api put-bucket-policy --bucket {real} --policy '{policy}'")
        creds = k8s.core.v1.Secret(
            f"{svc}-s3-client",
            metadata=_meta(f"{svc}-s3-client", where.base_labels, where.ns),
            string_data={"AWS_ACCESS_KEY_ID": self.access, "AWS_SECRET_ACCESS_KEY": self.secret},
            opts=self.child,
        )
        k8s.batch.v1.Job(
            f"{svc}-buckets",
            metadata=_meta(f"{svc}-buckets", where.labels(APP_COMPONENT), where.ns),
            spec=k8s.batch.v1.JobSpecArgs(
                backoff_limit=10,
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=where.labels(APP_COMPONENT)),
                    spec=k8s.core.v1.PodSpecArgs(
                        restart_policy="OnFailure",
                        containers=[
                            k8s.core.v1.ContainerArgs(
                                name="buckets",
                                image=where.settings.object_store_client_image,
                                command=["sh", "-c", " && ".join(steps)],
                                env_from=[
                                    k8s.core.v1.EnvFromSourceArgs(
                                        secret_ref=k8s.core.v1.SecretEnvSourceArgs(name=creds.metadata.name)
                                    )
                                ],
                            )
                        ],
                    ),
                ),
            ),
            opts=self.child,
        )
        self.only_app(where, "s3", S3_PORT, where.component("s3"))
        self.register_outputs({})

    def link(self, links: common.ServiceLinks) -> None:
        links.set_media(self.endpoint, self.buckets, self.access, self.secret)


class App(_Part):
    """Secrets in one Secret, plain env inline, one Deployment per process with probes on
    its health path."""

    def __init__(
        self, svc: str, spec: ServiceSpec, where: Placement, links: common.ServiceLinks, opts: pulumi.ResourceOptions
    ) -> None:
        super().__init__(f"{svc}-app", opts)
        spec_secrets = common.resolve_spec_secrets(spec)
        envs = {p: common.app_environment(spec, p, links, spec_secrets) for p in spec.processes}
        secret_values = {k: v for env in envs.values() for k, v in env.secret.items()}
        app_secret = k8s.core.v1.Secret(
            f"{svc}-app",
            metadata=_meta(f"{svc}-app", where.base_labels, where.ns),
            string_data=secret_values,
            opts=self.child,
        )
        secret_ref = k8s.core.v1.EnvFromSourceArgs(
            secret_ref=k8s.core.v1.SecretEnvSourceArgs(name=app_secret.metadata.name)
        )
        for process_name, process in spec.processes.items():
            pod_labels = where.labels(APP_COMPONENT, **{"migrate/process": process_name})
            container = k8s.core.v1.ContainerArgs(
                name=process_name,
                image=process.image,
                args=common.container_command(process),
                env=[k8s.core.v1.EnvVarArgs(name=k, value=v) for k, v in envs[process_name].plain.items()],
                env_from=[secret_ref],
                ports=[k8s.core.v1.ContainerPortArgs(container_port=process.port, name="http")]
                if process.port
                else None,
                readiness_probe=_http_probe(process.health_path, process.port, 5),
                liveness_probe=_http_probe(process.health_path, process.port, 15),
            )
            k8s.apps.v1.Deployment(
                f"{svc}-{process_name}",
                metadata=_meta(f"{svc}-{process_name}", pod_labels, where.ns),
                spec=k8s.apps.v1.DeploymentSpecArgs(
                    replicas=process.replicas,
                    selector=k8s.meta.v1.LabelSelectorArgs(match_labels=pod_labels),
                    template=k8s.core.v1.PodTemplateSpecArgs(
                        metadata=k8s.meta.v1.ObjectMetaArgs(labels=pod_labels),
                        spec=k8s.core.v1.PodSpecArgs(containers=[container]),
                    ),
                ),
                opts=self.child,
            )
        self.register_outputs({})


class Front(_Part):
    """The public process's Service and an Ingress for the domain (and www), with a
    host-less rule too: health checks by address work before DNS points here."""

    def __init__(
        self,
        svc: str,
        spec: ServiceSpec,
        web_name: str,
        web_port: int,
        where: Placement,
        opts: pulumi.ResourceOptions,
    ) -> None:
        super().__init__(f"{svc}-front", opts)
        settings = where.settings
        web_labels = where.labels(APP_COMPONENT, **{"migrate/process": web_name})
        service = k8s.core.v1.Service(
            f"{svc}-{web_name}",
            metadata=_meta(f"{svc}-{web_name}", web_labels, where.ns),
            spec=k8s.core.v1.ServiceSpecArgs(
                selector=web_labels,
                ports=[k8s.core.v1.ServicePortArgs(name="http", port=80, target_port=web_port)],
            ),
            opts=self.child,
        )
        annotations = {"cert-manager.io/cluster-issuer": settings.cluster_issuer} if settings.cluster_issuer else None
        hosts = [spec.service.domain, f"www.{spec.service.domain}"]
        backend = k8s.networking.v1.IngressBackendArgs(
            service=k8s.networking.v1.IngressServiceBackendArgs(
                name=service.metadata.name, port=k8s.networking.v1.ServiceBackendPortArgs(number=80)
            )
        )
        path = k8s.networking.v1.HTTPIngressRuleValueArgs(
            paths=[k8s.networking.v1.HTTPIngressPathArgs(path="/", path_type="Prefix", backend=backend)]
        )
        tls_secret = settings.tls_secret or (f"{svc}-tls" if settings.cluster_issuer else None)
        self.ingress = k8s.networking.v1.Ingress(
            f"{svc}",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=svc, namespace=where.ns, labels=where.base_labels, annotations=annotations
            ),
            spec=k8s.networking.v1.IngressSpecArgs(
                ingress_class_name=settings.ingress_class,
                rules=[k8s.networking.v1.IngressRuleArgs(host=h, http=path) for h in hosts]
                + [k8s.networking.v1.IngressRuleArgs(http=path)],
                tls=[k8s.networking.v1.IngressTLSArgs(hosts=hosts, secret_name=tls_secret)] if tls_secret else None,
            ),
            opts=self.child,
        )
        self.register_outputs({})


def _meta(name: str, labels: dict[str, str], namespace: str | None = None) -> k8s.meta.v1.ObjectMetaArgs:
    return k8s.meta.v1.ObjectMetaArgs(name=name, namespace=namespace, labels=labels)


def _http_probe(path: str, port: int | None, period: int) -> k8s.core.v1.ProbeArgs | None:
    if port is None:
        return None
    return k8s.core.v1.ProbeArgs(
        http_get=k8s.core.v1.HTTPGetActionArgs(path=path, port=port),
        period_seconds=period,
        failure_threshold=3,
    )


def _ingress_address(status: Any) -> tuple[str | None, str | None]:
    """(ip, hostname) the Ingress controller published, whichever the cluster gives."""
    try:
        first = status["load_balancer"]["ingress"][0]
    except (KeyError, IndexError, TypeError):
        try:
            first = status.load_balancer.ingress[0]
        except (AttributeError, IndexError, TypeError):
            return None, None
    if isinstance(first, dict):
        return first.get("ip"), first.get("hostname")
    return getattr(first, "ip", None), getattr(first, "hostname", None)


def _stateful(
    where: Placement,
    component: str,
    *,
    image: str,
    port: int,
    env_secret: dict[str, pulumi.Input[str]],
    data_path: str,
    storage_gb: int,
    opts: pulumi.ResourceOptions,
    probe: k8s.core.v1.ProbeArgs,
    args: list[str] | None = None,
    env: dict[str, str] | None = None,
) -> str:
    """One-replica StatefulSet with a volume, its credentials Secret and a Service; the host."""
    svc, ns, settings, labels = where.svc, where.ns, where.settings, where.labels(component)
    name = f"{svc}-{component}"
    secret = k8s.core.v1.Secret(name, metadata=_meta(name, labels, ns), string_data=env_secret, opts=opts)
    k8s.core.v1.Service(
        name,
        metadata=_meta(name, labels, ns),
        spec=k8s.core.v1.ServiceSpecArgs(
            selector=labels, ports=[k8s.core.v1.ServicePortArgs(port=port, target_port=port)]
        ),
        opts=opts,
    )
    k8s.apps.v1.StatefulSet(
        name,
        metadata=_meta(name, labels, ns),
        spec=k8s.apps.v1.StatefulSetSpecArgs(
            service_name=name,
            replicas=1,
            selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels),
            template=k8s.core.v1.PodTemplateSpecArgs(
                metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels),
                spec=k8s.core.v1.PodSpecArgs(
                    containers=[
                        k8s.core.v1.ContainerArgs(
                            name=component,
                            image=image,
                            args=args,
                            env=[k8s.core.v1.EnvVarArgs(name=k, value=v) for k, v in (env or {}).items()] or None,
                            ports=[k8s.core.v1.ContainerPortArgs(container_port=port)],
                            env_from=[
                                k8s.core.v1.EnvFromSourceArgs(
                                    secret_ref=k8s.core.v1.SecretEnvSourceArgs(name=secret.metadata.name)
                                )
                            ],
                            volume_mounts=[k8s.core.v1.VolumeMountArgs(name="data", mount_path=data_path)],
                            readiness_probe=probe,
                        )
                    ]
                ),
            ),
            volume_claim_templates=[
                k8s.core.v1.PersistentVolumeClaimArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(name="data"),
                    spec=k8s.core.v1.PersistentVolumeClaimSpecArgs(
                        access_modes=["ReadWriteOnce"],
                        storage_class_name=settings.storage_class,
                        resources=k8s.core.v1.VolumeResourceRequirementsArgs(requests={"storage": f"{storage_gb}Gi"}),
                    ),
                )
            ],
        ),
        opts=opts,
    )
    return f"{name}.{ns}.svc.cluster.local"


def _cnpg(
    spec: ServiceSpec,
    svc: str,
    ns: str,
    settings: KubernetesSettings,
    password: pulumi.Output[str],
    labels: dict[str, str],
    opts: pulumi.ResourceOptions,
) -> str:
    """Postgres through the CloudNativePG operator (installed in the cluster beforehand)."""
    assert spec.postgres is not None
    pg = spec.postgres
    name = f"{svc}-postgres"
    owner = k8s.core.v1.Secret(
        f"{name}-owner",
        metadata=_meta(f"{name}-owner", labels, ns),
        type="kubernetes.io/basic-auth",
        string_data={"username": pg.user, "password": password},
        opts=opts,
    )
    storage: dict[str, Any] = {"size": f"{pg.storage_gb}Gi"}
    if settings.storage_class:
        storage["storageClass"] = settings.storage_class
    k8s.apiextensions.CustomResource(
        name,
        api_version="postgresql.cnpg.io/v1",
        kind="Cluster",
        metadata=_meta(name, labels, ns),
        spec={
            "instances": 1,
            "imageName": f"ghcr.io/cloudnative-pg/postgresql:{pg.version}",
            "storage": storage,
            "bootstrap": {
                "initdb": {
                    "database": pg.database,
                    "owner": pg.user,
                    "secret": {"name": owner.metadata.name},
                }
            },
        },
        opts=opts,
    )
    return f"{name}-rw.{ns}.svc.cluster.local"
