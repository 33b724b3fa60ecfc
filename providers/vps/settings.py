from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from migrate.spec.secrets import SecretRef
from providers._base_settings import ProviderSettings

Role = Literal["app", "db", "storage", "front"]
ALL_ROLES: tuple[Role, ...] = ("app", "db", "storage", "front")


class SshHost(BaseModel):
    model_config = ConfigDict(extra="forbid")

    address: str
    port: int = Field(22, ge=1, le=65535)
    user: str = "root"
    private_key: SecretRef | None = None
    roles: list[Role] = Field(default_factory=lambda: list(ALL_ROLES))


class VpsSettings(ProviderSettings):
    provider: Literal["vps"]
    hosts: list[SshHost] = Field(min_length=1)
