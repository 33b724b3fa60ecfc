"""The Pulumi CLI, run with an environment migrate builds instead of this process's whole one.

The Automation API starts every ``pulumi`` command with ``{**os.environ, ...}``, and the CLI
hands its environment on to every provider plugin it starts. The operator's shell holds the
backup key, other clouds' tokens, CI secrets: none of that may reach the engine. So this
subclass replaces the one method that starts the CLI (and the version probe of its
constructor): the CLI gets the variables any program needs (migrate/childenv.py), the
engine's own (``PULUMI_*`` but never the passphrase itself, ``MIGRATE_*`` but never the
backup's), the ones the deployed adapters declare their plugins read (``AWS_*``,
``KUBECONFIG``), proxy and CA settings, and the workspace's ``additional_env``.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import IO

from pulumi.automation import CommandResult, PulumiCommand
from pulumi.automation.errors import create_command_error
from semver import VersionInfo

from migrate.childenv import NEVER_PASSED, child_env

# Network settings a plugin needs to reach its API from behind a proxy or a private CA.
NETWORK_KEYS = (
    "HTTPS_PROXY",
    "HTTP_PROXY",
    "NO_PROXY",
    "https_proxy",
    "http_proxy",
    "no_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "XDG_CACHE_HOME",
)
# Given to the CLI as a file instead (see workspace.passphrase_env), never as a value.
WITHHELD = frozenset({"PULUMI_CONFIG_PASSPHRASE"})


def engine_names(environ: Mapping[str, str], declared: Iterable[str]) -> list[str]:
    """The names of ``environ`` the engine may see: its own, migrate's non-secret ones, the
    network settings, and those ``declared`` (an entry ending in ``_`` is a prefix)."""
    declared = tuple(declared)
    prefixes = ("PULUMI_", "MIGRATE_", *(d for d in declared if d.endswith("_")))
    exact = {*NETWORK_KEYS, *(d for d in declared if not d.endswith("_"))}
    return [
        name
        for name in environ
        if (name in exact or name.startswith(prefixes)) and name not in WITHHELD and name not in NEVER_PASSED
    ]


def engine_environment(additional: Mapping[str, str], declared: Iterable[str]) -> dict[str, str]:
    return child_env({**additional, "PULUMI_AUTOMATION_API": "true"}, keep=engine_names(os.environ, declared))


class ScopedPulumiCommand(PulumiCommand):
    """``PulumiCommand`` whose every run (and version probe) gets ``engine_environment``."""

    def __init__(self, command: str, declared: Iterable[str] = ()) -> None:
        # Not PulumiCommand.__init__: it probes the version with the whole os.environ.
        self.command = command
        self.declared = tuple(declared)
        # In a throwaway Pulumi home: the CLI writes an automatic log on every run, and
        # ``pulumi version`` needs nothing from the operator's home.
        with tempfile.TemporaryDirectory(prefix="migrate-pulumi-version-") as home:
            probe = self._environment({"PULUMI_SKIP_UPDATE_CHECK": "true", "PULUMI_HOME": home})
            text = subprocess.run(
                [command, "version"], env=probe, capture_output=True, text=True, check=True, timeout=60
            ).stdout.strip()
        self.version: VersionInfo | None = VersionInfo.parse(text.removeprefix("v"))

    def _environment(self, additional: Mapping[str, str]) -> dict[str, str]:
        env = engine_environment(additional, self.declared)
        if os.path.isabs(self.command):
            env["PATH"] = os.pathsep.join([os.path.dirname(self.command), env.get("PATH", os.defpath)])
        return env

    def run(
        self,
        args: list[str],
        cwd: str,
        additional_env: Mapping[str, str],
        on_output: Callable[[str], None] | None = None,
        on_error: Callable[[str], None] | None = None,
    ) -> CommandResult:
        split = args.index("--") if "--" in args else len(args)
        if "--non-interactive" not in args[:split]:
            args.insert(0, "--non-interactive")  # fail instead of prompting
        out: list[str] = []
        err: list[str] = []
        with subprocess.Popen(
            [self.command, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cwd,
            env=self._environment(additional_env),
            encoding="utf-8",
        ) as process:
            assert process.stdout is not None and process.stderr is not None
            readers = [
                threading.Thread(target=_collect, args=(process.stdout, on_output, out), daemon=True),
                threading.Thread(target=_collect, args=(process.stderr, on_error, err), daemon=True),
            ]
            for reader in readers:
                reader.start()
            for reader in readers:
                reader.join()
            code = process.wait()
        result = CommandResult(stdout="\n".join(out), stderr="\n".join(err), code=code)
        if code != 0:
            raise create_command_error(result)
        return result


def _collect(stream: IO[str], callback: Callable[[str], None] | None, lines: list[str]) -> None:
    for line in iter(stream.readline, ""):
        line = line.rstrip()
        if callback is not None:
            callback(line)
        lines.append(line)
    stream.close()
