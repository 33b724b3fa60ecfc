"""A process's config files: templates the spec gives, rendered for each target and replica.

Many apps read their configuration from a file, not the environment (a homeserver.yaml, a
settings.ini). The spec gives the file's text; each stack renders it with the target's own
values and hands every replica its copy, private to it (a 0700 directory, 0600 files):

    processes:
      web:
        command: "app-server --config {files}/app.yaml"
        files:
          app.yaml: |
            listen: "{host}:{port}"
            database: {host: "{db.host}", password: "{db.password}"}
            signing_key_file: "{files}/signing.key"
          signing.key: "{secret.APP_SIGNING_KEY}"

References: the target's parts as in ``env`` (``{db.host}``, ``{bucket.media}``…, see
``envrefs``), the spec's secrets as ``{secret.NAME}``, and per replica ``{host}``, ``{port}``,
``{replica}`` (0, 1 …) and ``{files}`` (the directory holding the files). Any other brace is
text (a YAML ``{a: 1}`` stays as written). Files are always kept secret in the state.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from migrate.spec import envrefs
from migrate.spec.inline import name_looks_secret

FILE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,99}")
MAX_FILE_BYTES = 256 * 1024
SECRET_REF = re.compile(r"\{secret\.([A-Za-z_][A-Za-z0-9_]*)\}")
REPLICA_REF = re.compile(r"\{(host|port|replica|files)\}")
# One template pass for all three kinds, so a value put in is never expanded again.
ANY_REF = re.compile(rf"{envrefs.REF.pattern}|{SECRET_REF.pattern}|{REPLICA_REF.pattern}")
# ``key: value`` / ``key = value`` lines, for the inline-secret check.
_SETTING = re.compile(r"^\s*-?\s*[\"']?([A-Za-z][A-Za-z0-9_.-]*)[\"']?\s*[:=]\s*(.*?)\s*$")


def name_problem(name: str) -> str | None:
    if not FILE_NAME.fullmatch(name) or name in (".", ".."):
        return "a file name: letters, digits, '.', '_' and '-', no directory"
    return None


def problems(spec: Any) -> list[tuple[tuple[str | int, ...], str]]:
    """Bad names, sizes, references and inline secrets in every process's ``files``."""
    found: list[tuple[tuple[str | int, ...], str]] = []
    for process_name, process in spec.processes.items():
        for file_name, text in process.files.items():
            where: tuple[str | int, ...] = ("processes", process_name, "files", file_name)
            if problem := name_problem(file_name):
                found.append((where, problem))
            if len(text.encode()) > MAX_FILE_BYTES:
                found.append((where, f"longer than {MAX_FILE_BYTES // 1024} KiB"))
            for secret in SECRET_REF.findall(text):
                if secret not in spec.secrets:
                    known = ", ".join(sorted(spec.secrets)) or "none"
                    found.append((where, f"{{secret.{secret}}}: no such secret in secrets: ({known})"))
            if "{port}" in text and process.port is None:
                found.append((where, "{port}: the process has no port"))
            found += [(where, message) for message in _inline_secrets(text)]
    return found


def _inline_secrets(text: str) -> list[str]:
    """Settings whose name says secret but whose value is written out, not referenced."""
    messages = []
    for number, line in enumerate(text.splitlines(), 1):
        match = _SETTING.match(line)
        if not match or not name_looks_secret(match.group(1).replace("-", "_").replace(".", "_")):
            continue
        value = match.group(2).strip("\"'")
        if value and not ANY_REF.search(value) and not value.startswith(("#", "{", "[")) and value not in ("~", "null"):
            messages.append(
                f"line {number}: {match.group(1)} looks like a secret written inline; use {{secret.NAME}} "
                "(a secret in secrets:) or a target part such as {db.password}"
            )
    return messages


def render(
    text: str,
    values: Mapping[str, str],
    secrets: Mapping[str, str],
    *,
    host: str,
    port: int | None,
    replica: int,
    files: str,
) -> str:
    """One replica's copy of a file: every reference replaced in a single pass."""
    per_replica = {"host": host, "port": "" if port is None else str(port), "replica": str(replica), "files": files}

    def one(match: re.Match[str]) -> str:
        target_part, secret, local = match.groups()
        if secret is not None:
            return secrets[secret]
        if local is not None:
            return per_replica[local]
        if target_part not in values:
            raise KeyError(f"{{{target_part}}} has no value on this target")
        return values[target_part]

    return ANY_REF.sub(one, text)


def render_all(
    files: Mapping[str, str],
    values: Mapping[str, str],
    secrets: Mapping[str, str],
    replicas: list[tuple[str, int | None, str]],
) -> list[dict[str, str]]:
    """Each replica's files (``replicas``: its host, port and files directory, in order)."""
    return [
        {
            name: render(text, values, secrets, host=host, port=port, replica=index, files=directory)
            for name, text in files.items()
        }
        for index, (host, port, directory) in enumerate(replicas)
    ]
