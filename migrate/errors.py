"""Errors a user can act on, with the exit code the CLI maps them to.

Anything raised as a ``MigrateError`` is printed as one line, without a traceback.
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
