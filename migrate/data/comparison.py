"""What a move or a verification found: per table and per bucket, with every difference named."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Mismatch:
    """One difference: ``kind`` is missing / size / checksum / rows / content / sequence / extension..."""

    area: str  # "postgres" or "media:<bucket>"
    item: str  # table, sequence or object key
    kind: str
    source: str = ""
    dest: str = ""

    def describe(self) -> str:
        detail = f" (source {self.source}, destination {self.dest})" if self.source or self.dest else ""
        item = self.item if self.item.isprintable() else self.item.encode("unicode_escape").decode("ascii")
        return f"{self.area}: {item}: {self.kind}{detail}"


@dataclass
class SectionSummary:
    """One line of the summary table: a database or a bucket."""

    area: str
    items: int = 0
    matched: int = 0
    units: int = 0  # rows or bytes
    unit: str = "rows"
    extra: int = 0
    seconds: float = 0.0

    @property
    def mismatched(self) -> int:
        return self.items - self.matched


@dataclass
class VerifyReport:
    sections: list[SectionSummary] = field(default_factory=list)
    mismatches: list[Mismatch] = field(default_factory=list)
    seconds: float = 0.0
    # What the destination cannot hold, one line each (e.g. tags at a store without tagging):
    # not a difference the copy could mend, and never left unsaid.
    not_carried: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def extend(self, other: VerifyReport) -> None:
        self.sections.extend(other.sections)
        self.mismatches.extend(other.mismatches)
        self.not_carried.extend(other.not_carried)
        self.seconds += other.seconds

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "seconds": round(self.seconds, 3),
            "sections": [{**asdict(s), "mismatched": s.mismatched} for s in self.sections],
            "mismatches": [{**asdict(m), "message": m.describe()} for m in self.mismatches],
            "not_carried": self.not_carried,
        }
