"""A self-contained HTML report: the figures, the steps, and an inline SVG timeline (no JS)."""

from __future__ import annotations

import json
from html import escape
from typing import Any

COLORS = {
    "ok": "#2e7d32",
    "failed": "#c62828",
    "skipped": "#9e9e9e",
    "running": "#ef6c00",
    "rolled-back": "#6a1b9a",
    "rollback-failed": "#c62828",
    "pending": "#bdbdbd",
}


def timeline_svg(report: dict[str, Any], width: int = 900) -> str:
    steps = [s for s in report["steps"] if s["offset_seconds"] is not None]
    total = max([report["seconds"], *[s["offset_seconds"] + (s["seconds"] or 0) for s in steps]]) or 1.0
    label_w, row_h, top = 220, 22, 24
    scale = (width - label_w - 20) / total
    height = top + row_h * len(steps) + 30
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="system-ui,sans-serif" font-size="12" role="img" aria-label="timeline of the steps">'
    ]
    for tick in _ticks(total):
        x = label_w + tick * scale
        parts.append(
            f'<line x1="{x:.1f}" y1="{top - 6}" x2="{x:.1f}" y2="{height - 24}" stroke="#eee"/>'
            f'<text x="{x:.1f}" y="{height - 10}" text-anchor="middle" fill="#666">{tick:g}s</text>'
        )
    for row, step in enumerate(steps):
        y = top + row * row_h
        x = label_w + step["offset_seconds"] * scale
        w = max((step["seconds"] or 0) * scale, 2)
        color = COLORS.get(step["status"], "#607d8b")
        title = escape(f"{step['id']}: {step['status']}, {step['seconds'] or 0:.2f}s")
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 15}" text-anchor="end">{escape(step["id"])}</text>'
            f'<rect x="{x:.1f}" y="{y + 4}" width="{w:.1f}" height="{row_h - 8}" fill="{color}" rx="2">'
            f"<title>{title}</title></rect>"
        )
    for mark in report.get("marks", []):
        x = label_w + mark["offset_seconds"] * scale
        parts.append(
            f'<line x1="{x:.1f}" y1="{top - 10}" x2="{x:.1f}" y2="{height - 24}" stroke="#1565c0" '
            f'stroke-dasharray="4 3"/><text x="{x + 3:.1f}" y="{top - 12}" fill="#1565c0">'
            f"{escape(mark['label'])}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _ticks(total: float) -> list[float]:
    for step in (0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600):
        if total / step <= 10:
            return [i * step for i in range(int(total / step) + 1)]
    return [0, total]


def _figure(label: str, value: Any, goal: Any, unit: str) -> str:
    shown = "—" if value is None else (f"{value:.2f}{unit}" if isinstance(value, float) else f"{value}{unit}")
    verdict = ""
    if value is not None and goal is not None:
        met = value <= goal
        color, word = ("#2e7d32", "within") if met else ("#c62828", "over")
        verdict = f' <span style="color:{color}">({word} goal {goal}{unit})</span>'
    return f"<div class=fig><div class=label>{escape(label)}</div><div class=value>{escape(shown)}{verdict}</div></div>"


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}s"


def to_html(report: dict[str, Any]) -> str:
    f = report.get("figures", {})
    status_color = "#2e7d32" if report["ok"] else "#c62828"
    figures = (
        "".join(
            [
                _figure("Route", f.get("takeover_route"), None, ""),
                _figure("RTO", f.get("rto_seconds"), f.get("rto_goal_seconds"), "s"),
                _figure("RTO with one TTL", f.get("rto_with_ttl_seconds"), None, "s"),
                _figure("RPO (time)", f.get("rpo_seconds"), f.get("rpo_goal_seconds"), "s"),
                _figure("Acknowledged writes lost", f.get("rpo_writes"), None, ""),
                _figure("Acknowledged writes", f.get("acked_writes"), None, ""),
                *(
                    _figure(f"Lost: {kind.replace('_', ' ')}", f"{v['lost']} of {v['acked']}", None, "")
                    for kind, v in (f.get("rpo") or {}).items()
                    if v.get("acked")
                ),
            ]
        )
        if f
        else ""
    )
    rows = "".join(
        f"<tr><td>{escape(s['id'])}</td><td>{escape(s['title'])}</td>"
        f"<td style='color:{COLORS.get(s['status'], '#000')}'>{escape(s['status'])}</td>"
        f"<td>{_seconds(s['seconds'])}</td><td>{s['attempts']}</td>"
        f"<td>{escape(s['error'] or s['detail'] or '')}</td></tr>"
        for s in report["steps"]
    )
    return f"""<!doctype html><html lang=en><head><meta charset=utf-8>
<title>{escape(report["title"])} — {escape(report["run_id"])}</title>
<style>body{{font:14px/1.45 system-ui,sans-serif;margin:2em;color:#222}}table{{border-collapse:collapse}}
td,th{{border-bottom:1px solid #ddd;padding:4px 10px;text-align:left;vertical-align:top}}
.figs{{display:flex;gap:2em;margin:1em 0}}.fig .label{{color:#666}}.fig .value{{font-size:1.6em}}
pre{{background:#f6f6f6;padding:1em;overflow:auto}}</style></head><body>
<h1>{escape(report["title"])}</h1>
<p>Run <code>{escape(report["run_id"])}</code>, {escape(report["started"] or "")} →
{escape(report["ended"] or "")} ({report["seconds"]:.1f}s):
<strong style="color:{status_color}">{escape(report["status"])}</strong>
{f"— failed at <code>{escape(report['failed_step'])}</code>" if report["failed_step"] else ""}</p>
<div class=figs>{figures}</div>
<h2>Timeline</h2>{timeline_svg(report)}
<h2>Steps</h2><table><tr><th>step</th><th>what</th><th>status</th><th>took</th><th>attempts</th><th>note</th></tr>{rows}</table>
<h2>Parameters and figures</h2><pre>{escape(json.dumps({"params": report["params"], "figures": f}, indent=2))}</pre>
<p>Journal: <code>{escape(report["journal"])}</code></p>
</body></html>
"""
