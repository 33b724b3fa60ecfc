"""The checks the adapter tests rely on do fail when they should.

Pulumi's mocks have two traps: a test that does not return the Output it asserts in
passes without running its assertions, and mocks accept any inputs. These tests prove
the harness falls into neither: a failing assertion inside the program surfaces, a
wrong or missing SDK argument is reported, and a missing export is noticed.
"""

from __future__ import annotations

import pulumi
import pytest

from tests.adapters.harness import (
    SECRET_KEY,
    SECRET_SIG,
    Deployment,
    Recorded,
    run_program,
    sdk_problems,
)


def test_an_assertion_inside_an_apply_fails_the_run() -> None:
    import pulumi_random

    def program() -> None:
        password = pulumi_random.RandomPassword("p", length=8)

        def check(result: str) -> str:
            assert result == "something else", "this must surface"
            return result

        pulumi.export("checked", password.result.apply(check))

    with pytest.raises(Exception, match="this must surface"):
        run_program(program)


def test_outputs_are_resolved_and_secrets_noticed() -> None:
    def program() -> None:
        pulumi.export("plain", "a")
        pulumi.export("hidden", pulumi.Output.secret("b"))

    d = run_program(program)
    assert d.outputs == {"plain": "a", "hidden": "b"}
    assert d.secret_outputs == {"hidden"}


def test_unknown_and_missing_sdk_arguments_are_reported() -> None:
    # Recorded as the mock monitor would see them (wire names), with mistakes the SDK's
    # constructors would not catch because they arrive inside plain dicts.
    d = Deployment(
        resources=[
            Recorded("aws:rds/instance:Instance", "db", {"engine": "postgres", "instanceClas": "x"}),
            Recorded(
                "kubernetes:apps/v1:Deployment",
                "d",
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "spec": {
                        "replicas": 1,
                        "selectr": {"matchLabels": {"a": "b"}},
                        "template": {"spec": {"containers": [{"image": "x"}]}},
                    },
                },
            ),
        ]
    )
    problems = "\n".join(sdk_problems(d))
    assert "unknown argument 'instanceClas'" in problems
    assert "missing required argument 'instanceClass'" in problems
    assert "unknown argument 'selectr'" in problems
    assert "missing required argument 'selector'" in problems
    # three levels down: a container needs a name
    assert "containers[0]: missing required argument 'name'" in problems


def test_a_correct_resource_has_no_problems() -> None:
    d = Deployment(
        resources=[
            Recorded(
                "aws:rds/instance:Instance",
                "db",
                {
                    "engine": "postgres",
                    "instanceClass": "db.t4g.small",
                    "password": {SECRET_KEY: SECRET_SIG, "value": "x"},
                },
            )
        ]
    )
    assert sdk_problems(d) == []
