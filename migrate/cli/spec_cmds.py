"""``migrate validate`` and ``migrate schema``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from migrate.cli.common import DEFAULT_SPEC, JsonOption, Output, SpecOption
from migrate.errors import SpecError


def register(app: typer.Typer) -> None:
    app.command("validate")(validate)
    app.command("schema")(schema)


def validate(
    path: Annotated[Path | None, typer.Argument(help="Spec file (default: --spec).")] = None,
    spec: SpecOption = DEFAULT_SPEC,
    json_output: JsonOption = False,
) -> None:
    """Check a spec; report every problem as FILE:LINE: field: message (exit 2)."""
    from migrate.inputfiles import shown
    from migrate.spec.loader import load_spec

    out = Output(json_output)
    target = path or spec
    try:
        loaded = load_spec(target)
    except SpecError as exc:
        for problem in exc.problems:
            out.stderr.print(f"error: {problem}", markup=False, soft_wrap=True)
        out.emit({"ok": False, "file": str(target), "problems": exc.problems})
        raise typer.Exit(2) from None
    summary = {
        "ok": True,
        "file": str(target),
        "service": loaded.service.name,
        "zone": loaded.zone,
        "processes": sorted(loaded.processes),
        "targets": {name: t.provider for name, t in loaded.targets.items()},
        "dns_providers": {name: p.provider for name, p in loaded.dns_providers.items()},
    }
    out.emit(summary)
    out.human.print(
        f"{shown(target, 200)}: ok — service {loaded.service.name} on {loaded.zone}, "
        f"{len(loaded.processes)} processes, {len(loaded.targets)} targets",
        markup=False,
    )


def schema(json_output: JsonOption = False) -> None:
    """Print the spec's JSON Schema (point your editor's YAML plugin at it)."""
    from migrate.spec.model import ServiceSpec

    document = ServiceSpec.model_json_schema()
    document["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    document["title"] = "migrate service spec"
    typer.echo(json.dumps(document, indent=2))
