from __future__ import annotations

from typing import Literal

from pydantic import Field

from migrate.spec.secrets import SecretRef
from providers._base_settings import ProviderSettings


class Route53DomainsSettings(ProviderSettings):
    provider: Literal["route53domains"]
    region: Literal["us-east-1"] = Field("us-east-1", description="The Route 53 Domains API exists in us-east-1 only.")
    endpoint_url: str | None = Field(None, description="Only for emulators (moto).")
    profile: str | None = None
    access_key_id: SecretRef | None = None
    secret_access_key: SecretRef | None = None
    operation_timeout: float = Field(
        900.0, gt=0, description="How long to wait for the nameserver change to be SUCCESSFUL."
    )
    poll_interval: float = Field(5.0, gt=0, description="Seconds between operation polls.")
