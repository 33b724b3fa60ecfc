from __future__ import annotations

from typing import Literal

from pydantic import Field

from providers._base_settings import ProviderSettings


class KubernetesSettings(ProviderSettings):
    provider: Literal["kubernetes"]
    kubeconfig: str | None = Field(None, description="Path; defaults to $KUBECONFIG.")
    context: str | None = None
    namespace: str = "default"
    create_namespace: bool = Field(True, description="Create the namespace (off: it exists).")
    ingress_class: str = "nginx"
    storage_class: str | None = None
    tls_secret: str | None = Field(
        None,
        description="Secret holding the TLS certificate for the Ingress (e.g. cert-manager's).",
    )
    cluster_issuer: str | None = Field(None, description="cert-manager ClusterIssuer to request the certificate from.")
    postgres: Literal["statefulset", "cloudnative-pg"] = "statefulset"
    object_store_image: str = "quay.io/minio/minio:RELEASE.2025-04-22T22-12-26Z"
    object_store_client_image: str = "quay.io/minio/mc:RELEASE.2025-04-16T18-13-26Z"
