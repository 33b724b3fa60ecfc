"""examples/ci/drill.yml works: every `migrate` line of it runs here as far as it can
(options parse, the spec validates, the pre-flight answers; the drill itself as --dry-run)."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import yaml

from tests.conftest import CHIRP_SPEC, REPO, run_cli

WORKFLOW = REPO / "examples" / "ci" / "drill.yml"


def migrate_lines() -> list[list[str]]:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    lines = []
    for step in workflow["jobs"]["drill"]["steps"]:
        run = " ".join(str(step.get("run", "")).split())
        if ".venv/bin/migrate" not in run:
            continue
        run = re.sub(r"\$\{\{ inputs\.\w+ \|\| '([^']+)' \}\}", r"\1", run)
        run = run.split(">")[0].split("||")[0]
        lines.append(shlex.split(run)[1:])
    return lines


def test_every_migrate_line_of_the_ci_drill_runs_here(tmp_path: Path) -> None:
    lines = migrate_lines()
    assert [line[0] for line in lines] == ["preflight", "drill", "drill"]
    spec = tmp_path / "migrate.drill.yaml"  # chirp's spec has both drilled targets
    spec.write_text(CHIRP_SPEC.read_text())
    env = {
        "MIGRATE_SPEC": str(spec),
        "MIGRATE_HOME": str(tmp_path / "home"),
        "HCLOUD_TOKEN": "t",
        "DIGITALOCEAN_TOKEN": "t",
        "CHIRP_SESSION_KEY": "k",
        "MIGRATE_PLUGIN_INSTALL": "never",
    }
    preflight, drill, resume = lines
    answer = run_cli(*preflight, "--json", env=env, timeout=120)
    assert answer.returncode in (0, 1), answer.stderr  # a verdict, not a usage error
    document = json.loads(answer.stdout)
    capabilities = {f["message"] for t in document["targets"] for f in t["findings"] if f["area"] == "capability"}
    assert "hetzner-fsn (hetzner) can do 'terminate'" in capabilities  # the drill's source can be cut off
    assert not [f for f in document["blocking"] if f["area"] == "capability"]
    plan = run_cli(*[a for a in drill if a != "--json"], "--dry-run", env=env, timeout=120)
    assert plan.returncode == 0, plan.stderr
    resumed = run_cli(*resume, env=env, timeout=120)
    assert resumed.returncode != 2 or "no such option" not in resumed.stderr, resumed.stderr
    assert "Traceback" not in resumed.stderr
