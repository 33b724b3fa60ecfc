"""Shared fixtures. Servers are started per test module on loopback and stopped after."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CHIRP_SPEC = REPO / "examples" / "chirp" / "migrate.yaml"


def run_cli(
    *args: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 600,
    unset: tuple[str, ...] = (),
) -> subprocess.CompletedProcess[str]:
    """Run the real ``migrate`` CLI in a subprocess, as a user would (``unset``: variables of
    this process's environment it must not see)."""
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    for name in unset:
        full_env.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "migrate", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd or REPO,
        timeout=timeout,
    )


@pytest.fixture
def cli():
    return run_cli
