"""What every provider's settings share."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ProviderSettings(BaseModel):
    """Settings of one named target or DNS provider in the spec."""

    model_config = ConfigDict(extra="forbid")

    operator: str | None = Field(
        None,
        description="The company that runs this provider; used by audits to find "
        "single points of termination. Defaults to the provider's own company.",
    )
