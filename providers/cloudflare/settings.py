from __future__ import annotations

from typing import Literal

from pydantic import Field

from migrate.spec.secrets import SecretRef
from providers._base_settings import ProviderSettings


class CloudflareSettings(ProviderSettings):
    provider: Literal["cloudflare"]
    api_token: SecretRef
    zone_id: str | None = Field(None, description="Looked up by zone name if omitted.")
    base_url: str = "https://api.cloudflare.com/client/v4"
    batch_size: int = Field(200, ge=1, le=3500, description="Records per batch request (200 on most plans).")
    timeout: float = Field(30.0, gt=0)
