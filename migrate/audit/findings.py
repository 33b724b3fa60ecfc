"""The one finding type every audit check returns, and the report both callers emit."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    CRITICAL = "critical"  # the service cannot come back elsewhere without it; blocks a pre-flight
    WARNING = "warning"  # lost, or slower to recover, but there is a way round
    INFO = "info"  # worth knowing on the day
    OK = "ok"  # checked and fine (the pre-flight shows these; the audit leaves them out)


@dataclass(frozen=True)
class Finding:
    area: str  # dns, ttl, state, backups, data, provider-only, secrets, operator, target
    severity: Severity
    message: str
    fix: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"area": self.area, "severity": self.severity.value, "message": self.message, "fix": self.fix}


@dataclass(frozen=True)
class TargetAudit:
    target: str
    provider: str
    operator: str
    findings: list[Finding]

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "provider": self.provider,
            "operator": self.operator,
            "findings": [f.as_dict() for f in self.findings],
        }


@dataclass(frozen=True)
class Report:
    """Findings about the zone as a whole, then per target; ``blocking`` decides the exit code."""

    zone: list[Finding]
    targets: list[TargetAudit]
    blocking: list[Finding]

    def all(self) -> list[Finding]:
        return [*self.zone, *(f for t in self.targets for f in t.findings)]

    def critical(self) -> int:
        return sum(1 for f in self.all() if f.severity is Severity.CRITICAL)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": not self.blocking,
            "critical": self.critical(),
            "blocking": [f.as_dict() for f in self.blocking],
            "zone": [f.as_dict() for f in self.zone],
            "targets": [t.as_dict() for t in self.targets],
        }
