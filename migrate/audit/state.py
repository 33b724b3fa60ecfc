"""The Pulumi state backend must outlive the provider being left: state kept only in an S3
bucket of the provider that terminated you is gone with it, and with it every stack's outputs."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from migrate.audit.findings import Finding, Severity
from migrate.audit.operators import LOCAL, location_operator, same_operator, target_operator

if TYPE_CHECKING:
    from migrate.spec.model import ServiceSpec


def state_backend(spec: ServiceSpec, target: str) -> Finding:
    url = os.environ.get("PULUMI_BACKEND_URL", "")
    where = url or "file:// under $MIGRATE_HOME (this machine)"
    kept_by, leaving = location_operator(url), target_operator(spec, target)
    if kept_by == LOCAL and leaving == LOCAL:
        return Finding(
            "state",
            Severity.INFO,
            f"Pulumi state is at {where}; the sandbox host is this machine too (fine for a sandbox)",
        )
    if same_operator(kept_by, leaving):
        return Finding(
            "state",
            Severity.CRITICAL,
            f"Pulumi state is at {where}, on {leaving}, the provider being left: it goes with it",
            "move it (pulumi stack export | pulumi stack import) to a backend at another company "
            "and set PULUMI_BACKEND_URL",
        )
    return Finding("state", Severity.OK, f"Pulumi state is at {where}, not on {leaving}")
