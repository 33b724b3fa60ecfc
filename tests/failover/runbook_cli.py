"""Run a test runbook through the real ``migrate runbook run`` CLI in a scratch directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import run_cli


def home_env(work: Path, **extra: str) -> dict[str, str]:
    return {"MIGRATE_HOME": str(work / "home"), **extra}


def run_runbook(runbook: str, work: Path, *args: str, timeout: float = 60, **env: str) -> Any:
    """The runbook run with ``workdir=work``, no spec of its own, reports and home under ``work``."""
    return run_cli(
        "runbook",
        "run",
        runbook,
        "-p",
        f"workdir={work}",
        "-f",
        str(work / "none.yaml"),
        "--reports",
        str(work / "reports"),
        *args,
        env=home_env(work, **env),
        timeout=timeout,
    )
