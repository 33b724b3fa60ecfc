"""Secret references: the spec names where a secret lives, never the secret itself."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator, model_validator

from migrate.errors import InputError
from migrate.home import resolve_beside
from migrate.inputfiles import SECRET_LIMIT, read_input_text
from migrate.redact import register_secret
from migrate.spec.inline import reference_name_problem

# Validation-context key: the spec file's directory, against which relative paths resolve.
SPEC_DIR = "spec_dir"

INLINE_SECRET_MESSAGE = "secret value written inline; give a reference instead: {env: VAR_NAME} or {file: PATH}"


class SecretRef(BaseModel):
    """Where to read a secret at run time: an environment variable or a file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    env: str | None = None
    file: Path | None = None

    @model_validator(mode="before")
    @classmethod
    def _refuse_inline(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            raise ValueError(INLINE_SECRET_MESSAGE)
        return value

    @field_validator("file")
    @classmethod
    def _beside_the_spec(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        """A relative ``{file: …}`` is the spec's neighbour, wherever the command runs."""
        anchor = (info.context or {}).get(SPEC_DIR)
        return resolve_beside(value, anchor) if value is not None and anchor is not None else value

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretRef:
        if (self.env is None) == (self.file is None):
            raise ValueError("give exactly one of env or file")
        return self

    @field_validator("env")
    @classmethod
    def _variable_name(cls, value: str | None) -> str | None:
        if value is not None and (problem := reference_name_problem(value)):
            raise ValueError(problem)
        return value

    @field_validator("file", mode="before")
    @classmethod
    def _file_path(cls, value: object) -> object:
        if isinstance(value, str):
            if not value.strip():
                raise ValueError("an empty path; {file:} names the file that holds the secret")
            if "\0" in value:
                raise ValueError("a path cannot contain a NUL character")
            return Path(value)
        return value

    def describe(self) -> str:
        """Where the secret comes from, safe to print."""
        return f"env:{self.env}" if self.env else f"file:{self.file}"

    def resolve(self, what: str = "secret") -> str:
        """Read the value now; a missing source is a one-line input error."""
        if self.env is not None:
            value = os.environ.get(self.env)
            if value is None:
                raise InputError(f"{what}: environment variable {self.env} is not set")
            register_secret(value)
            return value
        assert self.file is not None
        path = self.file.expanduser()
        try:
            value = read_input_text(path, SECRET_LIMIT, "secret file").strip()
        except InputError as exc:
            raise InputError(f"{what}: {exc}") from None
        register_secret(value)
        return value
