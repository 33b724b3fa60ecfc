from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from migrate.spec.secrets import SecretRef
from providers._base_settings import ProviderSettings


class SshHost(BaseModel):
    model_config = ConfigDict(extra="forbid")

    address: str
    port: int = Field(22, ge=1, le=65535)
    user: str = "root"
    private_key: SecretRef | None = None
    roles: list[Literal["app", "db", "storage", "front"]] = Field(
        default_factory=lambda: ["app", "db", "storage", "front"]
    )


class VpsSettings(ProviderSettings):
    provider: Literal["vps"]
    hosts: list[SshHost] = Field(min_length=1)
