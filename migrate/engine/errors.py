"""The engine's failures as one clear line each: what broke and what to do about it."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from migrate.errors import MigrateError, PassphraseError, ResourceFailedError, StackLockedError
from migrate.redact import redact

if TYPE_CHECKING:
    from pulumi.automation import CommandError

    from migrate.spec.model import ServiceSpec


_FAILED: list[bool] = []  # set once any engine run of this process failed


def engine_failed() -> bool:
    """Whether an engine run of this process failed (its inline program may be stuck)."""
    return bool(_FAILED)


_LOCK_DETAIL = re.compile(r"(?m)^\s*(.*?lock(?:ed)? .*?(?:pid|by).*)$")
_ERROR_LINE = re.compile(r"(?m)^\s*error: (.+)$")


def engine_error(exc: CommandError, spec: ServiceSpec, target: str, failures: list[str] | None = None) -> MigrateError:
    """Map a failed Pulumi CLI run to the error a 3 a.m. operator can act on."""
    _FAILED.append(True)
    text = str(exc)
    if "the stack is currently locked" in text:
        holders = [
            line.strip() for line in text.splitlines() if line.strip().startswith(("/", "s3:", "gs:")) or "pid" in line
        ]
        held = f" ({'; '.join(holders[:2])})" if holders else ""
        return StackLockedError(
            f"the stack of target {target!r} is locked by another run{held}. Wait for it to finish; if no run "
            f"is active (a killed process left a stale lock), clear it with: migrate unlock --target {target}"
        )
    if "passphrase must be set" in text:
        return PassphraseError(
            "no passphrase for the stack's secrets: set PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE "
            "(or keep $MIGRATE_HOME/passphrase, which migrate creates on first use)"
        )
    if "incorrect passphrase" in text:
        return PassphraseError(
            f"the passphrase does not decrypt the state of target {target!r}: use the passphrase the stack was "
            "created with (PULUMI_CONFIG_PASSPHRASE, PULUMI_CONFIG_PASSPHRASE_FILE or $MIGRATE_HOME/passphrase)"
        )
    if failures:
        return ResourceFailedError(redact(f"target {target!r}: " + "; ".join(failures)))
    lines = [line for line in _ERROR_LINE.findall(text) if "update failed" not in line]
    reason = lines[-1] if lines else _last_meaningful_line(text)
    return MigrateError(redact(f"target {target!r}: the engine failed: {reason}"))


def _last_meaningful_line(text: str) -> str:
    for line in reversed(text.splitlines()):
        stripped = line.strip()
        if stripped and not stripped.startswith(("code:", "stdout:", "stderr:", "Resources:", "Duration:")):
            return stripped
    return "no detail (run with --verbose)"
