from __future__ import annotations

import ipaddress
from pathlib import PurePosixPath
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

    @field_validator("base_dir")
    @classmethod
    def _own_directory(cls, value: str | None) -> str | None:
        """A directory of the target's own: never /, a top-level system directory or a path
        climbing out with "..". (That it is new or empty is checked when ``up`` claims it.)"""
        if value is None:
            return value
        if not value.strip() or "\0" in value or any(ord(c) < 0x20 for c in value):
            raise ValueError("base_dir must be a path (no control characters)")
        path = PurePosixPath(value)
        if ".." in path.parts:
            raise ValueError("base_dir may not contain '..': give the directory itself")
        if path.is_absolute() and len(path.parts) < 3:
            raise ValueError("base_dir must be a directory of its own, not / or a top-level directory such as /etc")
        if str(path) in (".", "~"):
            raise ValueError("base_dir must be a directory of its own, not the working or home directory")
        return value

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
