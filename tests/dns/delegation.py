"""What the registrar tests (``migrate dns delegate``) share: the spec they delegate from and the CLI call."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import run_cli


def write_delegation_spec(path: Path, domain: str, dns_provider: str, blocks: str) -> Path:
    """A spec with one record at ``dns_provider`` and one local target; ``blocks`` goes on
    under ``dns_providers:`` (the provider's settings, then the ``registrars`` block)."""
    path.write_text(f"""version: 1
service: {{name: chirp, domain: {domain}}}
processes:
  web: {{command: "true", port: 8080, public: true}}
dns:
  records: [{{name: www}}]
  providers: [{dns_provider}]
targets:
  local-a: {{provider: local, address: 127.10.0.1}}
dns_providers:
{blocks}""")
    return path


def delegate(spec: Path, registrar: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``migrate dns delegate -f SPEC --registrar REGISTRAR ARGS...`` through the real CLI."""
    return run_cli("dns", "delegate", "-f", str(spec), "--registrar", registrar, *args, env=env)
