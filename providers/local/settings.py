from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import Field, field_validator

from providers._base_settings import ProviderSettings


class LocalSettings(ProviderSettings):
    """A sandbox host: its own loopback address, its own directory."""

    provider: Literal["local"]
    address: str | None = Field(
        None, description="Loopback address of this sandbox host (127.0.0.0/8); derived if omitted."
    )
    http_port: int = Field(80, ge=1, le=65535, description="Port of the HTTP front.")
    base_dir: str | None = Field(None, description="Where the host keeps its data.")

    @field_validator("address")
    @classmethod
    def _loopback(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            address = ipaddress.IPv4Address(value)
        except ValueError:
            raise ValueError(f"not an IPv4 address: {value!r}") from None
        if not address.is_loopback:
            raise ValueError("a local sandbox host must use an address in 127.0.0.0/8")
        return value
