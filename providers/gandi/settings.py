from __future__ import annotations

from typing import Literal

from pydantic import Field

from migrate.spec.secrets import SecretRef
from providers._base_settings import ProviderSettings


class GandiSettings(ProviderSettings):
    provider: Literal["gandi"]
    token: SecretRef = Field(description="A Gandi personal access token (Domain: manage).")
    base_url: str = "https://api.gandi.net/v5"
    sharing_id: str | None = Field(None, description="The organization to act as, when the token reaches several.")
    timeout: float = Field(30.0, gt=0)
