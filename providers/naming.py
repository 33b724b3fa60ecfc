"""Names every provider accepts, shared by the stacks and by what runs without Pulumi
(terminations): one spelling, so a termination finds what the stack named."""

from __future__ import annotations

import re


def slug(text: str, limit: int = 63) -> str:
    """A lowercase DNS-label-like name: what every provider accepts for names."""
    cleaned = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    return cleaned[:limit].rstrip("-")
