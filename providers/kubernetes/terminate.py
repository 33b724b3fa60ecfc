"""Terminating a kubernetes target through the Kubernetes API: nothing runs, nothing gets in.

Every Deployment and StatefulSet labelled with the target (``app.kubernetes.io/part-of``,
``app.kubernetes.io/managed-by=migrate``, ``migrate/target``: the labels the kubernetes
stack puts on everything) is scaled to 0 through its ``scale`` subresource (a merge patch of
``spec.replicas``), and a NetworkPolicy ``migrate-terminated`` selecting the target's pods
with no ingress and no egress rule denies all their traffic. Nothing is deleted and no Pulumi
call is made; ``migrate up --refresh`` scales back up, and the policy is removed with
``kubectl delete networkpolicy migrate-terminated -n NAMESPACE`` (it is not part of the stack).

The cluster is reached as the kubeconfig says (server, CA, a bearer token or a client
certificate; exec and auth-provider plugins are not run). Tested against the recorded shape
of the Kubernetes API (https://kubernetes.io/docs/reference/kubernetes-api/): no cluster runs here.
"""

from __future__ import annotations

import base64
import os
import ssl
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import yaml

from migrate.errors import InputError
from providers.hosting import Cut, Termination
from providers.naming import slug
from providers.rest import checked_json, named_failures

if TYPE_CHECKING:
    from migrate.spec.model import ServiceSpec

POLICY = "migrate-terminated"


def target_labels(spec: ServiceSpec, target: str) -> dict[str, str]:
    part_of = slug(spec.service.name, 40)
    return {"app.kubernetes.io/part-of": part_of, "app.kubernetes.io/managed-by": "migrate", "migrate/target": target}


def _material(entry: dict[str, Any], key: str, directory: Path, keep: list[str]) -> str | None:
    """A PEM from ``key`` (a path, relative to the kubeconfig) or ``key-data`` (base64), as a file path."""
    if entry.get(f"{key}-data"):
        with tempfile.NamedTemporaryFile("wb", delete=False, prefix="migrate-kube-") as handle:
            handle.write(base64.b64decode(entry[f"{key}-data"]))
        os.chmod(handle.name, 0o600)
        keep.append(handle.name)
        return handle.name
    if entry.get(key):
        return str((directory / str(entry[key])).expanduser())
    return None


def client_from_kubeconfig(settings: Any, target: str) -> tuple[httpx.Client, list[str]]:
    path = Path(settings.kubeconfig or os.environ.get("KUBECONFIG", "").split(":")[0] or "~/.kube/config").expanduser()
    try:
        config = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(f"targets.{target}: cannot read the kubeconfig {path}: {exc}") from None
    name = settings.context or config.get("current-context")
    by_name = {
        kind: {e["name"]: e.get(kind[:-1], {}) for e in config.get(kind, []) or []}
        for kind in ("contexts", "clusters", "users")
    }
    context = by_name["contexts"].get(name)
    if not context:
        raise InputError(f"targets.{target}: the kubeconfig {path} has no context {name!r}")
    cluster = by_name["clusters"].get(context.get("cluster"), {})
    user = by_name["users"].get(context.get("user"), {})
    if "exec" in user or "auth-provider" in user:
        raise InputError(
            f"targets.{target}: the kubeconfig user {context.get('user')!r} authenticates through a plugin, which "
            "terminate does not run: give it a token or a client certificate"
        )
    keep: list[str] = []
    verify: ssl.SSLContext | bool = not cluster.get("insecure-skip-tls-verify", False)
    ca = _material(cluster, "certificate-authority", path.parent, keep)
    if verify and ca:
        verify = ssl.create_default_context(cafile=ca)
    cert = _material(user, "client-certificate", path.parent, keep)
    key = _material(user, "client-key", path.parent, keep)
    if cert and key:
        if not isinstance(verify, ssl.SSLContext):
            insecure = not verify
            verify = ssl.create_default_context()
            if insecure:
                verify.check_hostname = False
                verify.verify_mode = ssl.CERT_NONE
        verify.load_cert_chain(cert, key)
    headers = {"Authorization": f"Bearer {user['token']}"} if user.get("token") else {}
    return httpx.Client(base_url=str(cluster.get("server", "")), headers=headers, verify=verify, timeout=15.0), keep


def terminate(
    spec: ServiceSpec, target: str, settings: Any, transport: httpx.BaseTransport | None = None
) -> Termination:
    labels = target_labels(spec, target)
    selector = ",".join(f"{k}={v}" for k, v in labels.items())
    ns = settings.namespace
    cut = Cut(target, ns)
    keep: list[str] = []
    if transport is not None:
        api = httpx.Client(base_url="https://kubernetes.invalid", transport=transport)
    else:
        api, keep = client_from_kubeconfig(settings, target)
    try:
        with api, named_failures(f"terminate {target} (kubernetes)"):
            for kind in ("deployments", "statefulsets"):
                listed = _ok(api.get(f"/apis/apps/v1/namespaces/{ns}/{kind}", params={"labelSelector": selector}))
                for item in listed.get("items", []):
                    name = item["metadata"]["name"]
                    _ok(
                        api.patch(
                            f"/apis/apps/v1/namespaces/{ns}/{kind}/{name}/scale",
                            json={"spec": {"replicas": 0}},
                            headers={"Content-Type": "application/merge-patch+json"},
                        )
                    )
                    cut.stopped[f"{kind[:-1]}:{name}"] = item.get("spec", {}).get("replicas")
            policy = {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": {"name": POLICY, "namespace": ns, "labels": labels},
                "spec": {"podSelector": {"matchLabels": labels}, "policyTypes": ["Ingress", "Egress"]},
            }
            created = api.post(f"/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies", json=policy)
            if created.status_code != 409:  # already there from an earlier terminate
                _ok(created)
            cut.stopped[f"networkpolicy:{POLICY}"] = ns
    finally:
        for name in keep:
            Path(name).unlink(missing_ok=True)
    scaled = len(cut.stopped) - 1
    return cut.done(f"{scaled} workloads scaled to 0; deny-all NetworkPolicy {POLICY} in {ns}")


def _ok(response: httpx.Response) -> dict[str, Any]:
    return checked_json(response, "Kubernetes")
