"""The kubernetes hosting adapter: Deployments, Ingress, data as StatefulSets."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from providers.hosting import AdapterFinding, Capability, HostingAdapter, Supports

if TYPE_CHECKING:
    from migrate.spec.model import ServiceSpec


class KubernetesAdapter(HostingAdapter):
    name = "kubernetes"
    company = "self"
    description = "Deployments, Services, Ingress; Postgres and object store as StatefulSets."
    capabilities: ClassVar[dict[Capability, str]] = {
        Capability.PROCESSES: "native: Deployments",
        Capability.POSTGRES: "self-run: StatefulSet (or CloudNativePG)",
        Capability.REDIS: "self-run: StatefulSet",
        Capability.OBJECT_STORAGE: "self-run: MinIO StatefulSet",
        Capability.LOAD_BALANCER: "native: Ingress",
        Capability.TLS: "native: Ingress TLS secret (tls_secret or cert-manager)",
    }
    plugins = (
        ("kubernetes", "4.34.2"),
        ("random", "4.21.4"),
    )
    engine_env = ("KUBECONFIG",)  # the cluster its plugin reaches when settings name none
    supports = Supports(terminate=True)
    termination = (
        "every Deployment and StatefulSet of the target scaled to 0 and a deny-all NetworkPolicy "
        "(migrate-terminated) on its pods, through the Kubernetes API"
    )

    def audit_findings(self, spec: ServiceSpec, target: str, settings: Any) -> list[AdapterFinding]:
        return self.self_run_backups(spec, settings)

    def resource_plan(self, spec: ServiceSpec, settings: Any) -> list[tuple[str, int]]:
        cnpg = spec.postgres is not None and settings.postgres == "cloudnative-pg"
        stateful = (spec.postgres is not None and not cnpg) + (spec.redis is not None) + (spec.media is not None)
        guarded = stateful + cnpg
        passwords = (spec.postgres is not None) + (spec.redis is not None) + 2 * (spec.media is not None)
        plan = [
            ("pulumi:providers:kubernetes", 1),
            ("kubernetes:core/v1:Secret", 1 + stateful + cnpg + (spec.media is not None)),
            ("kubernetes:apps/v1:Deployment", len(spec.processes)),
            ("kubernetes:core/v1:Service", 1 + stateful),
            ("kubernetes:networking.k8s.io/v1:Ingress", 1),
        ]
        if settings.create_namespace and settings.namespace != "default":
            plan.append(("kubernetes:core/v1:Namespace", 1))
        if stateful:
            plan.append(("kubernetes:apps/v1:StatefulSet", stateful))
        if cnpg:
            plan.append(("kubernetes:postgresql.cnpg.io/v1:Cluster", 1))
        if guarded:
            plan.append(("kubernetes:networking.k8s.io/v1:NetworkPolicy", guarded))
        if spec.media is not None:
            plan.append(("kubernetes:batch/v1:Job", 1))
        if passwords:
            plan.append(("random:index/randomPassword:RandomPassword", passwords))
        # The stack's parts (ComponentResources), one per concern the spec asks for.
        parts = ["App", "Front"] + ["Database"] * (spec.postgres is not None) + ["Cache"] * (spec.redis is not None)
        parts += ["ObjectStore"] * (spec.media is not None)
        plan += [(f"migrate:kubernetes:{part}", 1) for part in parts]
        return plan
