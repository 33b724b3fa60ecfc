"""JUnit XML: one test case per step, plus one per recovery goal, for CI dashboards."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any


def to_junit(report: dict[str, Any]) -> str:
    cases: list[ET.Element] = []
    for step in report["steps"]:
        case = ET.Element(
            "testcase",
            classname=f"migrate.{report['runbook']}",
            name=f"{step['id']}: {step['title']}",
            time=f"{step['seconds'] or 0:.3f}",
        )
        if step["status"] in ("failed", "rollback-failed", "running"):
            failure = ET.SubElement(case, "failure", message=step["error"] or step["rollback_error"] or "interrupted")
            failure.text = step["error"] or step["rollback_error"] or "the step did not finish"
        elif step["status"] in ("skipped", "pending"):
            ET.SubElement(case, "skipped", message=step["detail"] or step["status"])
        cases.append(case)
    figures = report.get("figures", {})
    for goal, value_key, limit_key, unit in (
        ("RTO", "rto_seconds", "rto_goal_seconds", "s"),
        ("RPO", "rpo_seconds", "rpo_goal_seconds", "s"),
    ):
        if figures.get(value_key) is None:
            continue
        value, limit = figures[value_key], figures.get(limit_key)
        case = ET.Element(
            "testcase",
            classname=f"migrate.{report['runbook']}.goals",
            name=f"{goal} {value:.2f}{unit} within goal {limit}{unit}",
            time="0",
        )
        if limit is not None and value > limit:
            ET.SubElement(case, "failure", message=f"{goal} {value:.2f}{unit} exceeds the goal of {limit}{unit}")
        cases.append(case)
    failures = sum(1 for c in cases if c.find("failure") is not None)
    skipped = sum(1 for c in cases if c.find("skipped") is not None)
    suite = ET.Element(
        "testsuite",
        name=f"migrate {report['runbook']} {report['run_id']}",
        tests=str(len(cases)),
        failures=str(failures),
        errors="0",
        skipped=str(skipped),
        time=f"{report['seconds']:.3f}",
        timestamp=report["started"] or "",
    )
    suite.extend(cases)
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
