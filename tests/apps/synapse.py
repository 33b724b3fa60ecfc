"""The second example app: Synapse (matrix-synapse 1.98.0), installed by scripts/bootstrap.

What a Synapse operator supplies to run ``examples/synapse/migrate.yaml``: the venv's ``bin/``
on PATH (the spec's command is ``synapse_homeserver``) and the server's secrets, generated
here once per test run as an operator would once per server.
"""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

from tests.conftest import REPO

SYNAPSE_SPEC = REPO / "examples" / "synapse" / "migrate.yaml"
SYNAPSE_VENV = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "migrate" / "synapse-1.98.0"


def synapse_env() -> dict[str, str]:
    """PATH with Synapse's venv first, and fresh values for the spec's four secrets."""
    seed = base64.b64encode(secrets.token_bytes(32)).decode().rstrip("=")
    return {
        "PATH": f"{SYNAPSE_VENV / 'bin'}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "SYNAPSE_SIGNING_KEY": f"ed25519 a_{secrets.token_hex(2)} {seed}",
        "SYNAPSE_MACAROON_SECRET": secrets.token_urlsafe(32),
        "SYNAPSE_FORM_SECRET": secrets.token_urlsafe(32),
        "SYNAPSE_REGISTRATION_SECRET": secrets.token_urlsafe(32),
    }
