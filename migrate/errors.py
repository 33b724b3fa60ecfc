"""Every error a user can act on, in one tree, with the exit code the CLI maps it to.

Anything raised as a ``MigrateError`` is printed as one line, without a traceback; anything
else is a bug ("internal error", exit 1, traceback with ``--verbose``).

    MigrateError                exit 1  an operation failed; the message says what to do
    ├── InputError              exit 2  a spec, flag, file or name that does not fit
    │   ├── SpecError           exit 2  problems in a spec file, each FILE:LINE: field: message
    │   └── PassphraseError     exit 2  the state passphrase is missing or wrong
    ├── StackLockedError        exit 1  another run holds the stack (``migrate unlock``)
    ├── ResourceFailedError     exit 1  resources failed to deploy, each named with its reason
    ├── NotDeployedError        exit 1  the target has no stack yet (``migrate up``)
    ├── StepFailed              exit 1  a runbook step failed (``--resume`` / ``--rollback``)
    ├── CheckFailed             exit 1  a step's precondition or check did not hold
    ├── SafetyRailError         exit 1  a DNS plan changes more, or other, than expected
    ├── HealthCheckError        exit 1  the target does not answer: swinging to it would be an outage
    ├── DnsProviderError        exit 1  a DNS provider refused or failed a read or a change
    ├── RegistrarError          exit 1  a registrar refused or failed a read or a change
    ├── MissingBucket           exit 1  a bucket (or directory) an operation names does not exist
    └── TaggingRefused          exit 1  an object store refused an object's tags (a copy then goes on
                                        without them and names the objects: only seen if it cannot)

Modules that raise these import them from here; a few still re-export them under the names
callers used before.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2


class MigrateError(Exception):
    """An operation failed for a reason the user can read and act on (exit 1)."""

    exit_code = EXIT_FAILED


class InputError(MigrateError):
    """Bad input: a spec, a flag, a file or a name that does not fit (exit 2)."""

    exit_code = EXIT_BAD_INPUT


class SpecError(InputError):
    """One or more problems in a spec file, each already ``FILE:LINE: field: message``."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class PassphraseError(InputError):
    """The passphrase is missing or is not the one the state was encrypted with."""


class StackLockedError(MigrateError):
    """Another run holds the stack's lock (or a killed run left it behind)."""


class ResourceFailedError(MigrateError):
    """One or more resources failed; the message names each with its reason."""


class NotDeployedError(MigrateError):
    """The target has no stack in the state backend yet."""


class StepFailed(MigrateError):
    """A runbook step failed; the run can be resumed or rolled back."""

    def __init__(self, step: str, message: str, run_id: str) -> None:
        self.step, self.run_id = step, run_id
        super().__init__(f"step {step!r} failed: {message} (run {run_id})")


class CheckFailed(MigrateError):
    """A step's precondition or check did not hold."""


class SafetyRailError(MigrateError):
    """A plan holds changes outside the expected set, or too much of the zone."""


class HealthCheckError(MigrateError):
    """The target does not answer its health check: swinging to it would be an outage."""


class DnsProviderError(MigrateError):
    """A DNS provider refused or failed a read or a change (exit 1)."""


class RegistrarError(MigrateError):
    """A registrar refused or failed a read or a change (exit 1).

    ``maybe_applied``: the registrar accepted the change but did not confirm it in time, so
    it may still take effect (a rollback must then consider it).
    """

    def __init__(self, message: str, *, maybe_applied: bool = False) -> None:
        super().__init__(message)
        self.maybe_applied = maybe_applied


class MissingBucket(MigrateError):
    """The bucket (or directory) an operation names does not exist."""


class TaggingRefused(MigrateError):
    """An object store refused a write's tags (x-amz-tagging): it keeps no object tags."""
