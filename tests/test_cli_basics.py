"""CLI conventions every command keeps: exit codes, --json, lazy imports, no tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import REPO, run_cli

HEAVY = ("pulumi", "boto3", "botocore", "dns", "psycopg", "pydantic", "httpx", "moto")


def test_help_imports_no_heavy_sdk():
    """`migrate --help` must stay fast: no SDK is imported to print it."""
    code = (
        "import sys\n"
        "from migrate.cli.main import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_every_command_has_json_and_help():
    from migrate.cli.app import build_app

    root = build_app()
    missing = []

    def walk(group, prefix):
        for name, command in group.commands.items():
            path = f"{prefix} {name}".strip()
            if hasattr(command, "commands"):
                walk(command, path)
                continue
            options = {opt for param in command.params for opt in getattr(param, "opts", [])}
            if "--json" not in options:
                missing.append(path)
            assert command.help, f"{path} has no help text"

    walk(root, "")
    assert missing == []


def test_version_and_usage_errors():
    assert run_cli("--version").stdout.startswith("migrate ")
    result = run_cli("no-such-command")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


def test_json_error_document_on_bad_input(tmp_path):
    result = run_cli("validate", str(tmp_path / "missing.yaml"), "--json")
    assert result.returncode == 2
    doc = json.loads(result.stdout)
    assert doc["ok"] is False and "missing.yaml" in doc["problems"][0]


def test_providers_matrix_json():
    result = run_cli("providers", "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert set(doc["hosting"]) == {"local", "aws", "hetzner", "digitalocean", "vps", "kubernetes"}
    assert doc["hosting"]["hetzner"]["capabilities"]["postgres"].startswith("self-run")
    assert {"rfc2136", "powerdns", "route53", "cloudflare"} <= set(doc["dns"])


def test_no_colour_when_piped():
    result = run_cli("providers", env={"NO_COLOR": "1"})
    assert result.returncode == 0
    assert "\x1b[" not in result.stdout


def test_command_table_names_what_each_module_registers():
    """`migrate NAME …` loads only COMMANDS[NAME]: the table must match the modules."""
    import importlib

    import typer

    from migrate.cli.app import COMMAND_MODULES, COMMANDS, build_app, command_name

    for module_name in COMMAND_MODULES:
        app = typer.Typer()
        importlib.import_module(module_name).register(app)
        registered = set(typer.main.get_group(app).commands)
        assert registered == {n for n, m in COMMANDS.items() if m == module_name}, module_name
    assert set(COMMANDS.values()) == set(COMMAND_MODULES)
    assert set(build_app().commands) == set(COMMANDS)
    assert set(build_app(["-f", "x.yaml", "dns", "swing"]).commands) == {"dns"}
    assert command_name(["--spec", "dns", "validate"]) == "validate"
    assert command_name(["--help", "dns"]) is None
