"""``migrate providers``: the adapters and what each provides natively."""

from __future__ import annotations

import typer

from migrate.cli.common import JsonOption, Output


def register(app: typer.Typer) -> None:
    app.command("providers")(providers)


def providers(json_output: JsonOption = False) -> None:
    """List hosting adapters, DNS providers and registrars, with a capability matrix."""
    from rich.table import Table

    from providers.hosting import FEATURES, Capability
    from providers.registry import DNS_PROVIDERS, HOSTING_ADAPTERS, REGISTRARS, hosting_adapter

    out = Output(json_output)
    adapters = [hosting_adapter(name) for name in HOSTING_ADAPTERS]
    document = {
        "hosting": {
            a.name: {
                "company": a.company,
                "description": a.description,
                "capabilities": {c.value: a.capabilities.get(c, "none") for c in Capability},
                "supports": a.supports.as_dict(),
                "termination": a.termination,
                "data_route": a.data_route,
                "plugins": [f"{n} {v}" for n, v in a.plugins],
            }
            for a in adapters
        },
        "dns": sorted(DNS_PROVIDERS),
        "registrars": sorted(REGISTRARS),
    }
    out.emit(document)
    table = Table(title="Hosting adapters: how each capability is covered")
    table.add_column("capability")
    for adapter in adapters:
        table.add_column(adapter.name)
    for capability in Capability:
        cells = []
        for adapter in adapters:
            how = adapter.capabilities.get(capability, "none")
            kind, _, detail = how.partition(": ")
            style = {"native": "green", "self-run": "yellow"}.get(kind, "red")
            cells.append(f"[{style}]{kind}[/]" + (f"\n{detail}" if detail else ""))
        table.add_row(capability.value, *cells)
    out.human.print(table)
    flags = Table(title="What the core may ask of each adapter (checked by the pre-flight)")
    flags.add_column("supports")
    for adapter in adapters:
        flags.add_column(adapter.name)
    for feature in FEATURES:
        marks = ["[green]yes[/]" if getattr(a.supports, feature) else "[red]no[/]" for a in adapters]
        flags.add_row(feature, *marks)
    out.human.print(flags)
    for feature, about in FEATURES.items():
        out.human.print(f"  {feature}: {about.meaning}", markup=False)
    for adapter in adapters:
        out.human.print(f"terminate on {adapter.name}: {adapter.termination}", markup=False)
    for adapter in adapters:
        out.human.print(f"data reached on {adapter.name}: {adapter.data_route}", markup=False)
    out.human.print("DNS providers: " + ", ".join(sorted(DNS_PROVIDERS)))
    out.human.print("Registrars: " + ", ".join(sorted(REGISTRARS)))
