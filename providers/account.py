"""What every DNS provider and registrar is: a named account at some company.

The company matters to the audit: a zone or a domain held by the same company as the hosting
target is lost with it.
"""

from __future__ import annotations

from typing import Any, ClassVar


class ProviderAccount:
    """One account named in the spec, with its settings; ``operator`` is who runs it."""

    kind: ClassVar[str]
    company: ClassVar[str]

    def __init__(self, name: str, settings: Any) -> None:
        self.name = name
        self.settings = settings

    @property
    def operator(self) -> str:
        """The company running this account (settings.operator overrides)."""
        return str(getattr(self.settings, "operator", None) or self.company)
