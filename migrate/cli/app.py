"""The root typer app. Command groups live in their own modules and register here."""

from __future__ import annotations

import importlib

import typer

import migrate

# Each module exposes ``register(app)``; keep their top-level imports light.
COMMAND_MODULES = [
    "migrate.cli.spec_cmds",
    "migrate.cli.providers_cmd",
    "migrate.cli.dns_cmds",
    "migrate.cli.dns_delegate_cmd",
    "migrate.cli.failover_cmds",
    "migrate.cli.audit_cmd",
    "migrate.cli.data_cmds",
    "migrate.cli.stack_cmds",
    "migrate.cli.chaos_cmd",
]

HELP = (
    "Leave a hosting provider in minutes: redeploy the service elsewhere, move its data "
    "with proof, swing DNS and verify it at every nameserver."
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"migrate {migrate.__version__}")
        raise typer.Exit()


def build_app() -> typer.core.TyperGroup:
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
        version: bool = typer.Option(
            False, "--version", callback=_version, is_eager=True, help="Print the version."
        ),
        spec: str | None = typer.Option(
            None, "--spec", "-f", help="The service spec file, for every command (same as MIGRATE_SPEC)."
        ),
    ) -> None:
        """Global options. --verbose (anywhere) shows debug logs and tracebacks."""
        if spec:
            import os

            os.environ["MIGRATE_SPEC"] = spec

    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(app)
    command = typer.main.get_command(app)
    assert isinstance(command, typer.core.TyperGroup)
    return command
