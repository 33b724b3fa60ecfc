from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from migrate.spec.secrets import SecretRef
from providers._base_settings import ProviderSettings


class TsigKey(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    algorithm: Literal["hmac-sha256", "hmac-sha512", "hmac-sha384", "hmac-sha224", "hmac-sha1"] = "hmac-sha256"
    secret: SecretRef


class Rfc2136Settings(ProviderSettings):
    provider: Literal["rfc2136"]
    server: str = Field(description="Primary server address that takes updates.")
    port: int = Field(53, ge=1, le=65535)
    tsig: TsigKey | None = None
    timeout: float = Field(5.0, gt=0)
    sandbox: Literal["bind", "knot", "pdns"] | None = Field(
        None,
        description="This server is run on this machine by migrate's local sandbox "
        "(started on demand), not by a DNS company.",
    )
