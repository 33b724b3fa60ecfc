"""The runbook actions behind "a drill destroys only what it created" and "a dead cloud source
skips the holding page with the way out", against a real run journal (no stacks needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from migrate.failover import actions
from migrate.runbook.journal import RunJournal
from migrate.runbook.runner import StepContext
from migrate.spec.loader import parse_spec
from tests.contract.shop import shop_spec_text

SPEC = shop_spec_text(
    "a: {provider: local}",
    "cloud: {provider: aws, region: us-east-1}",
)


@pytest.fixture
def ctx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StepContext:
    monkeypatch.setenv("MIGRATE_HOME", str(tmp_path / "home"))
    journal = RunJournal.create({"name": "drill", "steps": []}, {}, home=tmp_path / "home")
    return StepContext(run_id=journal.run_id, params={}, journal=journal, spec=parse_spec(SPEC, "shop.yaml"))


def test_teardown_leaves_a_stack_the_run_did_not_create(ctx: StepContext, monkeypatch: pytest.MonkeyPatch) -> None:
    destroyed: list[str] = []

    def destroy(_ctx: StepContext, target: str) -> dict[str, Any]:
        destroyed.append(target)
        return {"destroyed": target}

    monkeypatch.setattr(actions, "target_destroy", destroy)
    ctx.results["preflight"] = {"deployed_before": {"a": True, "cloud": False}}
    actions.record_creation(ctx, "a")  # deployed before: not recorded
    actions.record_creation(ctx, "cloud")  # this run creates it
    actions.record_creation(ctx, "cloud")  # a resumed step records it once
    assert [e["created_stack"] for e in ctx.journal.entries() if "created_stack" in e] == ["cloud"]
    assert actions.target_destroy_created(ctx, "a") == {"kept": "a"}
    actions.target_destroy_created(ctx, "cloud")
    assert destroyed == ["cloud"]
    # the journal is the record: a new process (a resumed run) reads the same answer
    again = RunJournal.open(ctx.run_id)
    assert actions.created_by_run(StepContext(ctx.run_id, {}, again, spec=ctx.spec), "cloud")


def test_a_dead_cloud_source_skips_the_holding_page_with_the_way_out(ctx: StepContext) -> None:
    needed, detail = actions.holding_needed(ctx, "cloud", "cloud")
    assert not needed
    assert "cloud (aws) cannot do 'holding_page'" in detail and "holding-page up --bind" in detail
    serving, detail = actions.holding_serving(ctx, "cloud")
    assert not serving and "--bind" in detail


def test_preflight_records_which_targets_were_deployed(ctx: StepContext, monkeypatch: pytest.MonkeyPatch) -> None:
    from migrate.errors import MigrateError
    from migrate.failover import preflight

    monkeypatch.setattr(preflight, "_deployed", lambda _ctx, target: (target == "cloud", ""))
    with pytest.raises(MigrateError, match="cloud is already deployed"):
        preflight.run(ctx, "a", "cloud", drill=True, data_mode="restore")
    result: dict[str, Any] = preflight.run(ctx, "a", "cloud", drill=False)
    assert result["deployed_before"] == {"a": False, "cloud": True}
