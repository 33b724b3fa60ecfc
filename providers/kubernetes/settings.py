from __future__ import annotations

from typing import Literal

from pydantic import Field

from providers._base_settings import ProviderSettings


class KubernetesSettings(ProviderSettings):
    provider: Literal["kubernetes"]
    kubeconfig: str | None = Field(None, description="Path; defaults to $KUBECONFIG.")
    context: str | None = None
    namespace: str = "default"
    ingress_class: str = "nginx"
    storage_class: str | None = None
    postgres: Literal["statefulset", "cloudnative-pg"] = "statefulset"
