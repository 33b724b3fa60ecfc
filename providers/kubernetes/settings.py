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
    # versitygw (Apache-2.0) and the AWS CLI (Apache-2.0): no AGPL component in the stack.
    object_store_image: str = Field(
        "versity/versitygw:v1.8.0", description="S3 server image (configured by VGW_* variables)."
    )
    object_store_client_image: str = Field(
        "amazon/aws-cli:2.27.0", description="Creates the buckets (aws s3api) in a one-off Job."
    )
