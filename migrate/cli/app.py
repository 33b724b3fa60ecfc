"""The root typer app. Command groups live in their own modules and register here."""

from __future__ import annotations

import importlib
from collections.abc import Sequence

import typer

import migrate

# Each module exposes ``register(app)``; keep their top-level imports light.
COMMAND_MODULES = [
    "migrate.cli.spec_cmds",
    "migrate.cli.providers_cmd",
    "migrate.cli.dns_cmds",
    "migrate.cli.failover_cmds",
    "migrate.cli.audit_cmd",
    "migrate.cli.data_cmds",
    "migrate.cli.stack_cmds",
    "migrate.cli.chaos_cmd",
    "migrate.cli.exec_cmd",
]

# The top-level command each module registers: `migrate dns swing` imports and builds only
# dns_cmds (typer works out every command's parameters when the app is built: for all of
# them, a tenth of a second of every run). tests/test_cli_basics.py keeps this in step.
COMMANDS: dict[str, str] = {
    "validate": "migrate.cli.spec_cmds",
    "schema": "migrate.cli.spec_cmds",
    "providers": "migrate.cli.providers_cmd",
    "dns": "migrate.cli.dns_cmds",
    "failover": "migrate.cli.failover_cmds",
    "drill": "migrate.cli.failover_cmds",
    "holding-page": "migrate.cli.failover_cmds",
    "runbook": "migrate.cli.failover_cmds",
    "audit": "migrate.cli.audit_cmd",
    "preflight": "migrate.cli.audit_cmd",
    "data": "migrate.cli.data_cmds",
    "plan": "migrate.cli.stack_cmds",
    "up": "migrate.cli.stack_cmds",
    "destroy": "migrate.cli.stack_cmds",
    "status": "migrate.cli.stack_cmds",
    "unlock": "migrate.cli.stack_cmds",
    "chaos": "migrate.cli.chaos_cmd",
    "exec": "migrate.cli.exec_cmd",
}

HELP = (
    "Leave a hosting provider in minutes: redeploy the service elsewhere, move its data "
    "with proof, swing DNS and verify it at every nameserver."
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"migrate {migrate.__version__}")
        raise typer.Exit()


def command_name(args: Sequence[str]) -> str | None:
    """The top-level command ``args`` run, or None (help, version, or nothing given)."""
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg in ("--spec", "-f"):
            skip = True
        elif arg in ("-h", "--help", "--version"):
            return None
        elif not arg.startswith("-"):
            return arg
    return None


def build_app(args: Sequence[str] | None = None) -> typer.core.TyperGroup:
    """The CLI; given the command line, only the module of the command it runs is loaded."""
    app = typer.Typer(
        name="migrate",
        help=HELP,
        no_args_is_help=True,
        rich_markup_mode=None,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )

    @app.callback()
    def root(
        version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
        spec: str | None = typer.Option(
            None, "--spec", "-f", help="The service spec file, for every command (same as MIGRATE_SPEC)."
        ),
    ) -> None:
        """Global options. --verbose (anywhere) shows debug logs and tracebacks."""
        if spec:
            import os

            os.environ["MIGRATE_SPEC"] = spec

    name = command_name(args) if args is not None else None
    for module_name in [COMMANDS[name]] if name in COMMANDS else COMMAND_MODULES:
        importlib.import_module(module_name).register(app)
    command = typer.main.get_command(app)
    assert isinstance(command, typer.core.TyperGroup)
    return command
