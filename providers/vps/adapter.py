"""The vps hosting adapter: existing hosts over SSH, everything installed by its own SSH resource."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from providers.hosting import AdapterFinding, Capability, HostingAdapter, Supports

if TYPE_CHECKING:
    from contextlib import ExitStack

    from migrate.outputs import TargetOutputs
    from migrate.spec.model import ServiceSpec


class VpsAdapter(HostingAdapter):
    name = "vps"
    company = "self"
    description = "Existing hosts over SSH: runtime, app, Postgres and an object store installed over SSH (paramiko)."
    capabilities: ClassVar[dict[Capability, str]] = {
        Capability.PROCESSES: "self-run: Docker containers over SSH",
        Capability.POSTGRES: "self-run: Postgres container over SSH",
        Capability.REDIS: "self-run: Redis container over SSH",
        Capability.OBJECT_STORAGE: "self-run: versitygw over SSH",
        Capability.LOAD_BALANCER: "self-run: nginx container on the front host",
        Capability.TLS: "self-run: certificate on nginx (tls_certificate)",
    }
    # Terminate stops every container of the service over SSH; the hosts' addresses are the
    # user's own, so a holding page is served from elsewhere.
    supports = Supports(terminate=True)
    termination = "over SSH, docker stop -t 0 of every container of the service at once (ports close); data stays"

    data_route = "SSH tunnels (paramiko, the host key pinned) to Postgres and Redis, which admit only the app hosts"

    def data_access(
        self, spec: ServiceSpec, target: str, settings: Any, outputs: TargetOutputs, stack: ExitStack
    ) -> TargetOutputs:
        from providers.vps.access import tunnelled

        return tunnelled(target, settings, outputs, stack)

    def audit_findings(self, spec: ServiceSpec, target: str, settings: Any) -> list[AdapterFinding]:
        return self.self_run_backups(spec, settings)

    def resource_plan(self, spec: ServiceSpec, settings: Any) -> list[tuple[str, int]]:
        app_hosts = [h for h in settings.hosts if "app" in h.roles]
        replicas = sum(p.replicas for p in spec.processes.values())
        used_app_hosts = (
            min(len(app_hosts), max((p.replicas for p in spec.processes.values()), default=0)) if app_hosts else 0
        )
        fronts = sum(1 for h in settings.hosts if "front" in h.roles)
        data = spec.postgres is not None or spec.redis is not None
        commands = len(settings.hosts) + used_app_hosts + fronts + data + (spec.media is not None)
        passwords = 2 * (spec.postgres is not None) + (spec.redis is not None) + 2 * (spec.media is not None)
        plan = [
            ("pulumi-python:dynamic/vps:RemoteScript", commands),
            ("docker containers (app replicas)", replicas),
        ]
        if passwords:
            plan.append(("pulumi-python:dynamic/vps:GeneratedSecret", passwords))
        # The stack's parts (ComponentResources), one per concern the spec asks for.
        parts = ["Hosts", "App", "Front"] + ["DataHost"] * data + ["ObjectStore"] * (spec.media is not None)
        plan += [(f"migrate:vps:{part}", 1) for part in parts]
        return plan
