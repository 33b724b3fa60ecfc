"""Which provider packages exist, read from the file tree (imports nothing, so every layer may use it).

A package ``providers/<name>/`` with a ``settings.py`` is a provider of the kinds whose module
it has: ``adapter.py`` (hosting), ``provider.py`` (DNS), ``registrar.py`` (registrar).
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
MODULES = {"hosting": "adapter", "dns": "provider", "registrar": "registrar"}


def discover(kind: str) -> dict[str, str]:
    """name -> module of every provider package of ``kind`` (the package's name is the
    provider's name, the ``provider:`` a spec gives)."""
    module = MODULES[kind]
    return {
        path.parent.name: f"providers.{path.parent.name}.{module}"
        for path in sorted(PACKAGE_DIR.glob(f"*/{module}.py"))
        if not path.parent.name.startswith("_") and (path.parent / "settings.py").exists()
    }
