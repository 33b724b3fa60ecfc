from __future__ import annotations

from typing import Literal

from pydantic import Field

from migrate.spec.secrets import SecretRef
from providers._base_settings import ProviderSettings


class PowerDnsSettings(ProviderSettings):
    provider: Literal["powerdns"]
    api_url: str = Field(description="e.g. http://127.0.0.1:8081")
    api_key: SecretRef
    server_id: str = "localhost"
    nameservers: list[str] = Field(
        default_factory=list,
        description="NS names for a zone migrate creates here (zone evacuation).",
    )
    timeout: float = Field(10.0, gt=0)
