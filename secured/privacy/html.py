"""Self-contained HTML reports (inline SVG plots, no scripts, no network) for ``secured assess``
and ``secured protect``: risk per attack with its confidence interval, per iteration, and
utility against risk. Text is escaped; reports carry settings, rates and metrics only."""

from __future__ import annotations

import html
from typing import Any

__all__ = ["assessment_html", "protection_html"]

_STYLE = """body{font-family:system-ui,sans-serif;margin:2em;max-width:980px;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}.pass{color:#17702b}.fail{color:#b00020}
svg{background:#fcfcfc;border:1px solid #ddd}"""


def _page(title: str, body: str) -> str:
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>{body}</body></html>")


def _risk_plot(rows: list[tuple[str, float, float, float]], threshold: float | None, width: int = 900) -> str:
    """Horizontal risk bars with CI whiskers; rows are (label, value, lo, hi) in [0, 1]."""
    row_h, left, top = 22, 260, 20
    height = top + row_h * len(rows) + 30
    scale = width - left - 20
    upper = max([hi for *_, hi in rows] + [threshold or 0, 0.05])
    upper = min(1.0, upper * 1.15)
    x = lambda v: left + scale * min(v, upper) / upper  # noqa: E731
    parts = [f"<svg width='{width}' height='{height}' xmlns='http://www.w3.org/2000/svg' font-size='12'>"]
    for i, (label, value, lo, hi) in enumerate(rows):
        y = top + i * row_h
        parts.append(f"<text x='{left - 6}' y='{y + 14}' text-anchor='end'>{html.escape(label)}</text>")
        parts.append(f"<rect x='{left}' y='{y + 4}' width='{x(value) - left:.1f}' height='12' fill='#7aa6d8'/>")
        parts.append(f"<line x1='{x(lo):.1f}' x2='{x(hi):.1f}' y1='{y + 10}' y2='{y + 10}' stroke='#222'/>")
        for v in (lo, hi):
            parts.append(f"<line x1='{x(v):.1f}' x2='{x(v):.1f}' y1='{y + 5}' y2='{y + 15}' stroke='#222'/>")
    if threshold is not None:
        parts.append(f"<line x1='{x(threshold):.1f}' x2='{x(threshold):.1f}' y1='{top - 5}' y2='{height - 25}' "
                     "stroke='#b00020' stroke-dasharray='4 3'/>")
        parts.append(f"<text x='{x(threshold):.1f}' y='{height - 10}' fill='#b00020' text-anchor='middle'>"
                     f"max risk {threshold:g}</text>")
    for t in range(5):
        v = upper * t / 4
        parts.append(f"<text x='{x(v):.1f}' y='{top - 6}' text-anchor='middle' fill='#666'>{v:.3f}</text>")
    parts.append("</svg>")
    return "".join(parts)


def _scatter(points: list[tuple[float, float, str, bool]], threshold: float, width: int = 600, height: int = 360) -> str:
    """Utility loss (x) against the highest risk upper bound (y), one point per iteration."""
    left, bottom, pad = 50, 40, 15
    xmax = max([p[0] for p in points] + [0.01]) * 1.1
    ymax = max([p[1] for p in points] + [threshold]) * 1.1
    X = lambda v: left + (width - left - pad) * v / xmax  # noqa: E731
    Y = lambda v: height - bottom - (height - bottom - pad) * v / ymax  # noqa: E731
    parts = [f"<svg width='{width}' height='{height}' xmlns='http://www.w3.org/2000/svg' font-size='12'>",
             f"<line x1='{left}' x2='{width - pad}' y1='{Y(0)}' y2='{Y(0)}' stroke='#444'/>",
             f"<line x1='{left}' x2='{left}' y1='{pad}' y2='{Y(0)}' stroke='#444'/>",
             f"<line x1='{left}' x2='{width - pad}' y1='{Y(threshold):.1f}' y2='{Y(threshold):.1f}' stroke='#b00020' "
             "stroke-dasharray='4 3'/>",
             f"<text x='{(width + left) / 2}' y='{height - 8}' text-anchor='middle'>utility loss (NCP, lower is better)</text>",
             f"<text x='14' y='{height / 2}' transform='rotate(-90 14 {height / 2})' text-anchor='middle'>"
             "highest risk upper bound</text>"]
    for t in range(5):
        parts.append(f"<text x='{X(xmax * t / 4):.1f}' y='{Y(0) + 14}' text-anchor='middle' fill='#666'>{xmax * t / 4:.2f}</text>")
        parts.append(f"<text x='{left - 4}' y='{Y(ymax * t / 4) + 4:.1f}' text-anchor='end' fill='#666'>{ymax * t / 4:.2f}</text>")
    for loss, risk, label, ok in points:
        color = "#17702b" if ok else "#b00020"
        parts.append(f"<circle cx='{X(loss):.1f}' cy='{Y(risk):.1f}' r='5' fill='{color}'/>")
        parts.append(f"<text x='{X(loss) + 7:.1f}' y='{Y(risk) - 6:.1f}'>{html.escape(label)}</text>")
    parts.append("</svg>")
    return "".join(parts)


def assessment_html(report: dict[str, Any], threshold: float | None = None) -> str:
    rows = [(name, r["risk"]["value"], *r["risk"]["ci"]) for name, r in report["risks"].items()]
    table = ["<table><tr><th>attack</th><th>risk</th><th>95% CI</th><th>attack rate</th><th>control rate</th>"
             "<th>baseline rate</th><th>attacks</th><th>seconds</th></tr>"]
    for name, r in report["risks"].items():
        table.append(f"<tr><td>{html.escape(name)}</td><td>{r['risk']['value']:.4f}</td>"
                     f"<td>[{r['risk']['ci'][0]:.4f}, {r['risk']['ci'][1]:.4f}]</td>"
                     f"<td>{r['attack_rate']['value']:.4f}</td><td>{r['control_rate']['value']:.4f}</td>"
                     f"<td>{r['baseline_rate']['value']:.4f}</td><td>{r['n_attacks']}</td><td>{r['seconds']:.2f}</td></tr>")
    table.append("</table>")
    reid = report.get("reidentification", {})
    pros = reid.get("prosecutor", {})
    body = (f"<h2>Risk by attack</h2>{_risk_plot(rows, threshold)}{''.join(table)}"
            f"<h2>Re-identification</h2><p>prosecutor risk: highest {pros.get('max', 0):.4f}, mean "
            f"{pros.get('mean', 0):.4f}; sample uniqueness {reid.get('sample_uniqueness', 0):.4f}; marketer "
            f"{reid.get('marketer', 0):.4f} ({html.escape(str(reid.get('counted', '')))} counted)</p>")
    return _page("SECURED release assessment", body)


def protection_html(report: dict[str, Any]) -> str:
    threshold = report["max_risk"]
    status = ("<p class='pass'>A release passed: "
              + html.escape(str(report.get("chosen"))) + "</p>") if report["passed"] else \
        f"<p class='fail'>{html.escape(report.get('message', 'No setting passed.'))}</p>"
    sections, points = [status], []
    table = ["<table><tr><th>iteration</th><th>method</th><th>k</th><th>passed</th><th>highest upper bound</th>"
             "<th>riskiest attack</th><th>targets</th><th>loss</th><th>suppressed</th></tr>"]
    for it in report["iterations"]:
        s = it["settings"]
        if "risks" not in it:
            table.append(f"<tr><td>{it['iteration']}</td><td>{s['method']}</td><td>{s['k']}</td>"
                         f"<td class='fail'>skipped</td><td colspan='5'>{html.escape(it.get('skipped', ''))}</td></tr>")
            continue
        cls = "pass" if it["passed"] else "fail"
        table.append(f"<tr><td>{it['iteration']}</td><td>{s['method']}</td><td>{s['k']}</td>"
                     f"<td class='{cls}'>{'yes' if it['passed'] else 'no'}</td><td>{it['max_risk_upper']:.4f}</td>"
                     f"<td>{html.escape(it['riskiest'])}</td><td>{it.get('n_attacks', '')}</td>"
                     f"<td>{it['utility']['loss']:.4f}</td>"
                     f"<td>{it['suppressed']}</td></tr>")
        label = f"#{it['iteration']} {s['method']} k={s['k']}"
        rows = [(name, r["value"], *r["ci"]) for name, r in it["risks"].items()]
        sections.append(f"<h3>{html.escape(label)}</h3>{_risk_plot(rows, threshold)}")
        points.append((it["utility"]["loss"], it["max_risk_upper"], f"#{it['iteration']}", it["passed"]))
    table.append("</table>")
    body = (sections[0] + "<h2>Iterations</h2>" + "".join(table)
            + "<h2>Utility against risk</h2>" + _scatter(points, threshold)
            + "<h2>Risk per attack, per iteration</h2>" + "".join(sections[1:]))
    return _page("SECURED protect: anonymize, attack, repeat", body)
