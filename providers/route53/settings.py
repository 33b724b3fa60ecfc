from __future__ import annotations

from typing import Literal

from pydantic import Field

from migrate.spec.secrets import SecretRef
from providers._base_settings import ProviderSettings


class Route53Settings(ProviderSettings):
    provider: Literal["route53"]
    hosted_zone_id: str | None = Field(None, description="Looked up by zone name if omitted.")
    region: str = "us-east-1"
    endpoint_url: str | None = Field(None, description="Only for emulators (moto).")
    profile: str | None = None
    access_key_id: SecretRef | None = None
    secret_access_key: SecretRef | None = None
    change_timeout: float = Field(300.0, gt=0, description="How long to wait for a change to be INSYNC.")
