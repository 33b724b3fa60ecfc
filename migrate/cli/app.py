"""The root typer app. Command groups live in their own modules and register here."""

from __future__ import annotations

import importlib
from typing import Any

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
]

HELP = (
    "Leave a hosting provider in minutes: redeploy the service elsewhere, move its data "
    "with proof, swing DNS and verify it at every nameserver."
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"migrate {migrate.__version__}")
        raise typer.Exit()


def build_app(args: list[str] | None = None) -> typer.core.TyperGroup:
    """The whole command tree; with ``args`` whose first word names a command, only that branch.

    Turning typer's command descriptions into click commands costs ~0.1 s of CPU for the whole
    tree (type hints of every option of every command): a quick command should not pay it for
    the others. Help and usage errors for the root still see every command.
    """
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
    if args and not args[0].startswith("-"):
        _keep_only(app, args[0])
    command = typer.main.get_command(app)
    assert isinstance(command, typer.core.TyperGroup)
    return command


def _keep_only(app: typer.Typer, word: str) -> None:
    """Drop every top-level command and group but ``word``, if ``word`` is one of them."""
    def name(value: Any) -> str | None:
        value = getattr(value, "value", value)  # typer wraps unset settings in DefaultPlaceholder
        return value if isinstance(value, str) else None

    commands = {name(info.name): info for info in app.registered_commands}
    groups = {name(info.name) or name(info.typer_instance.info.name if info.typer_instance else None): info
              for info in app.registered_groups}
    if None in commands or None in groups or word not in commands.keys() | groups.keys():
        return
    app.registered_commands = [info for key, info in commands.items() if key == word]
    app.registered_groups = [info for key, info in groups.items() if key == word]
