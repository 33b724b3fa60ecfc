"""A runbook as Markdown: what a person reads at 3 a.m., from the file the engine runs."""

from __future__ import annotations

from typing import Any

from migrate.runbook.model import Call, Runbook


def _call(call: Call | None, params: dict[str, Any] | None) -> str:
    return "—" if call is None else f"`{call.describe(params)}`"


def to_markdown(runbook: Runbook, params: dict[str, Any] | None = None) -> str:
    from migrate.runbook.model import substitute

    if params is not None:
        defaults = {k: p.default for k, p in runbook.params.items()}
        params = {k: substitute(v, {**defaults, **params}) for k, v in defaults.items()} | params
    lines = [f"# {runbook.title}", ""]
    if runbook.summary:
        lines += [runbook.summary.strip(), ""]
    if runbook.params:
        lines += ["## Parameters", ""]
        for name, param in runbook.params.items():
            value = f" = `{params[name]}`" if params and params.get(name) is not None else ""
            default = f" (default `{param.default}`)" if param.default is not None else ""
            need = " (required)" if param.required else default
            lines.append(f"- `{name}`{value}{need}: {param.help}")
        lines.append("")
    lines += ["## Steps", ""]
    for number, step in enumerate(runbook.steps, 1):
        flags = []
        if step.always:
            flags.append("always runs, even after a failure")
        if step.retries:
            flags.append(f"retried up to {step.retries} times")
        if step.needs is not None:
            flags.append(f"after {', '.join(step.needs) or 'nothing'} (beside other steps)")
        if step.on_failure == "report":
            flags.append("a failure is reported, not undone, and the run goes on")
        title = substitute(step.title, params) if params else step.title
        lines.append(f"### {number}. {title} (`{step.id}`)" + (f" — {'; '.join(flags)}" if flags else ""))
        lines.append("")
        if step.why:
            lines += [step.why.strip(), ""]
        precondition = _call(step.precondition, params)
        if step.precondition is not None and step.when_precondition_fails == "skip":
            precondition += " (if it does not hold, skip this step)"
        lines += [
            f"- **Before:** {precondition}",
            f"- **Do:** {_call(step.action, params)}",
            f"- **Check:** {_call(step.check, params)}",
            f"- **Undo:** {_call(step.rollback, params)}",
        ]
        if step.manual:
            lines.append(f"- **By hand:** `{substitute(step.manual, params or {})}`")
        lines.append("")
    return "\n".join(lines)
