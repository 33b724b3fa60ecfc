"""Adapters stay cheap to import: `migrate providers` and `--help` never load Pulumi SDKs."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO, run_cli

CLOUD = ("aws", "hetzner", "digitalocean", "vps", "kubernetes")


def test_adapter_modules_do_not_import_pulumi() -> None:
    code = (
        "import sys\n"
        "from providers.registry import hosting_adapter\n"
        f"for name in {CLOUD!r}:\n"
        "    a = hosting_adapter(name)\n"
        "    assert a.capabilities\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0].startswith('pulumi'))\n"
        "print(loaded)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert result.stdout.strip() == "[]"


def test_providers_lists_self_run_stand_ins() -> None:
    import json

    result = run_cli("providers", "--json")
    assert result.returncode == 0
    hosting = json.loads(result.stdout)["hosting"]
    assert hosting["hetzner"]["capabilities"]["postgres"].startswith("self-run:")
    assert hosting["vps"]["capabilities"]["object_storage"].startswith("self-run:")
    assert hosting["kubernetes"]["capabilities"]["postgres"].startswith("self-run:")
    assert hosting["aws"]["capabilities"]["postgres"].startswith("native:")
