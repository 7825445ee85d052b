"""Self-contained HTML reports (inline SVG plots, no scripts, no network) for ``secured assess``
and ``secured protect``: risk per attack with its point estimate and confidence interval,
per iteration on one shared scale, utility against risk, and the published table's own
numbers. Text is escaped; reports carry settings, rates and metrics only."""

from __future__ import annotations

import html
from typing import Any

__all__ = ["assessment_html", "protection_html", "page", "risk_plot", "risk_table", "escape"]

_STYLE = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1000px;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}.pass{color:#17702b}.fail{color:#b00020}
.note{color:#555}svg{background:#fcfcfc;border:1px solid #ddd}"""


def _e(value: Any) -> str:
    return html.escape(str(value))


def _page(title: str, body: str) -> str:
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{_e(title)}</title>"
            f"<style>{_STYLE}</style></head><body><h1>{_e(title)}</h1>{body}</body></html>")


def _settings(settings: dict[str, Any]) -> str:
    return ", ".join(f"{k} = {v:g}" if isinstance(v, float) else f"{k} = {v}" for k, v in settings.items())


def _risk_plot(rows: list[tuple[str, float, float, float]], threshold: float | None, upper: float | None = None,
               width: int = 940) -> str:
    """Horizontal risk bars (point estimate) with CI whiskers and the numbers written beside
    them; ``upper`` fixes the scale so several plots can be compared."""
    row_h, left, top, right = 22, 240, 24, 200
    height = top + row_h * len(rows) + 30
    scale = width - left - right
    if upper is None:
        upper = max([hi for *_, hi in rows] + [threshold or 0, 0.05])
    upper = min(1.0, max(upper, 1e-6) * 1.1)
    x = lambda v: left + scale * min(max(v, 0.0), upper) / upper  # noqa: E731
    parts = [f"<svg width='{width}' height='{height}' xmlns='http://www.w3.org/2000/svg' font-size='12'>"]
    for t in range(5):
        v = upper * t / 4
        parts.append(f"<line x1='{x(v):.1f}' x2='{x(v):.1f}' y1='{top - 4}' y2='{height - 28}' stroke='#eee'/>")
        parts.append(f"<text x='{x(v):.1f}' y='{top - 8}' text-anchor='middle' fill='#666'>{v:.3f}</text>")
    for i, (label, value, lo, hi) in enumerate(rows):
        y = top + i * row_h
        parts.append(f"<text x='{left - 6}' y='{y + 14}' text-anchor='end'>{_e(label)}</text>")
        parts.append(f"<rect x='{left}' y='{y + 4}' width='{x(value) - left:.1f}' height='12' fill='#7aa6d8'/>")
        parts.append(f"<line x1='{x(lo):.1f}' x2='{x(hi):.1f}' y1='{y + 10}' y2='{y + 10}' stroke='#222'/>")
        for v in (lo, hi):
            parts.append(f"<line x1='{x(v):.1f}' x2='{x(v):.1f}' y1='{y + 5}' y2='{y + 15}' stroke='#222'/>")
        parts.append(f"<text x='{left + scale + 8}' y='{y + 14}'>{value:.4f} [{lo:.4f}, {hi:.4f}]</text>")
    if threshold is not None:
        parts.append(f"<line x1='{x(threshold):.1f}' x2='{x(threshold):.1f}' y1='{top - 4}' y2='{height - 25}' "
                     "stroke='#b00020' stroke-dasharray='4 3'/>")
        parts.append(f"<text x='{x(threshold):.1f}' y='{height - 10}' fill='#b00020' text-anchor='middle'>"
                     f"max risk {threshold:g}</text>")
    parts.append("</svg>")
    return "".join(parts)


def _scatter(points: list[tuple[float, float, str, bool]], threshold: float, width: int = 640,
             height: int = 380) -> str:
    """Utility loss (x) against the highest risk upper bound (y), one numbered point per
    iteration; labels that would overlap are moved apart."""
    left, bottom, pad = 56, 44, 18
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
        parts.append(f"<text x='{X(xmax * t / 4):.1f}' y='{Y(0) + 16}' text-anchor='middle' fill='#666'>{xmax * t / 4:.2f}</text>")
        parts.append(f"<text x='{left - 4}' y='{Y(ymax * t / 4) + 4:.1f}' text-anchor='end' fill='#666'>{ymax * t / 4:.3f}</text>")
    placed: list[tuple[float, float]] = []
    for loss, risk, label, ok in points:
        color = "#17702b" if ok else "#b00020"
        cx, cy = X(loss), Y(risk)
        parts.append(f"<circle cx='{cx:.1f}' cy='{cy:.1f}' r='5' fill='{color}' fill-opacity='0.7'/>")
        lx, ly = cx + 7, cy - 6
        while any(abs(lx - px) < 26 and abs(ly - py) < 13 for px, py in placed):
            ly += 13
        placed.append((lx, ly))
        parts.append(f"<text x='{lx:.1f}' y='{ly:.1f}'>{_e(label)}</text>")
    parts.append("</svg>")
    return "".join(parts)


def _risk_table(risks: dict[str, Any]) -> str:
    rows = ["<table><tr><th>attack</th><th>risk</th><th>95% CI</th><th>attack rate</th><th>control rate</th>"
            "<th>baseline rate</th><th>attacks</th><th>seconds</th></tr>"]
    for name, r in risks.items():
        rows.append(f"<tr><td>{_e(name)}</td><td>{r['risk']['value']:.4f}</td>"
                    f"<td>[{r['risk']['ci'][0]:.4f}, {r['risk']['ci'][1]:.4f}]</td>"
                    f"<td>{r['attack_rate']['value']:.4f}</td><td>{r['control_rate']['value']:.4f}</td>"
                    f"<td>{r['baseline_rate']['value']:.4f}</td><td>{r['n_attacks']}</td><td>{r['seconds']:.2f}</td></tr>")
    rows.append("</table>")
    return "".join(rows)


def _reidentification(reid: dict[str, Any]) -> str:
    pros = reid.get("prosecutor", {})
    return (f"<p>prosecutor risk: highest {pros.get('max', 0):.4f}, mean {pros.get('mean', 0):.4f}; sample "
            f"uniqueness {reid.get('sample_uniqueness', 0):.4f}; marketer {reid.get('marketer', 0):.4f} "
            f"({_e(reid.get('counted', ''))} counted)</p>")


def _items(rel: dict[str, Any]) -> str:
    """The m-uniqueness curve before and after, and the share of items kept per level."""
    items = rel.get("items")
    if not items:
        return ""
    rows = "".join(f"<tr><td>{o['m']}</td><td>{o['worst']:.4f}</td><td>{o['expected']:.4f}</td>"
                   f"<td>{r['worst']:.4f}</td><td>{r['expected']:.4f}</td></tr>"
                   for o, r in zip(items["m_uniqueness"]["original"], items["m_uniqueness"]["release"]))
    levels = ", ".join(f"level {x['level']}" + (f" dates by {x['date_precision']}" if x.get("date_precision") else "")
                       + f": {x['kept_share']:.1%} kept" for x in items["levels"])
    dated = f", dates by {items['date_precision']}" if items.get("date_precision") else ""
    return (f"<h3>Items ({_e(', '.join(items['columns']))}): (k, k^m) with k = {items['k']}, m = {items['m']}, "
            f"released at level {items['level']}{_e(dated)} "
            f"({'holds' if items['km']['holds'] else 'FAILS'})</h3>"
            "<table><tr><th>m known items</th><th>unique before (some m)</th><th>before (random m)</th>"
            "<th>unique after (some m)</th><th>after (random m)</th></tr>" + rows + "</table>"
            f"<p class='note'>{_e(levels)}</p>")


def assessment_html(report: dict[str, Any], threshold: float | None = None) -> str:
    rows = [(name, r["risk"]["value"], *r["risk"]["ci"]) for name, r in report["risks"].items()]
    body = [f"<h2>Risk by attack</h2>{_risk_plot(rows, threshold)}{_risk_table(report['risks'])}"]
    settings = report.get("settings", {})
    if settings:
        body.append(f"<p class='note'>targets {_e(settings.get('targets', ''))}; seed {_e(settings.get('seed', ''))}</p>")
    release = report.get("release")
    if release:
        util = release.get("utility", {})
        body.append(f"<h2>The release</h2><p>k = {release['k']} ({_e(release.get('counted', ''))}), "
                    f"{release['rows_out']} rows, {release['suppressed']} suppressed, loss {util.get('loss', 0):.4f}</p>")
    body.append("<h2>Re-identification</h2>" + _reidentification(report.get("reidentification", {})))
    return _page("SECURED release assessment", "".join(body))


def protection_html(report: dict[str, Any]) -> str:
    threshold = report["max_risk"]
    iterations = [it for it in report["iterations"] if "risks" in it]
    if report["passed"]:
        pub = report["published"]
        held = pub.get("held_out_control_rows_not_published", 0)
        status = (f"<p class='pass'>Passed. Published iteration {report['chosen_iteration']} "
                  f"({_e(_settings(report['chosen']))}): {pub['rows']:,} rows"
                  + (f"; {held:,} control rows were held out and are not in the release" if held else "")
                  + (f". SHA-256 {_e(pub['sha256'])}" if pub.get("sha256") else "") + ".</p>")
    else:
        status = f"<p class='fail'>No release. {_e(report.get('message', 'No setting passed.'))}</p>"
    body = [status]
    if report["passed"]:
        rel, assessment = report["release"], report["assessment"]
        util = rel.get("utility", {})
        lt = (f"; l = {rel['l']:g}, t = {rel['t']:.3f} for {_e(rel.get('sensitive'))}" if rel.get("sensitive") else "")
        rows = [(name, r["risk"]["value"], *r["risk"]["ci"]) for name, r in assessment["risks"].items()]
        body.append(
            f"<h2>The published table</h2><p>k = {rel['k']} achieved ({_e(rel.get('counted', ''))} counted, "
            f"{rel['k_requested']} requested){lt}; {rel['rows_out']:,} rows, {rel['suppressed']:,} suppressed; "
            f"loss {util.get('loss', 0):.4f}, precision {util.get('precision', 0):.4f}.</p>"
            f"{_risk_plot(rows, threshold)}{_risk_table(assessment['risks'])}"
            + _reidentification(assessment.get("reidentification", {})) + _items(rel))
    table = ["<table><tr><th>#</th><th>settings</th><th>passed</th><th>k achieved</th><th>highest upper bound</th>"
             "<th>riskiest attack</th><th>its estimate</th><th>targets / controls</th><th>loss</th>"
             "<th>suppressed</th></tr>"]
    for it in report["iterations"]:
        if "risks" not in it:
            table.append(f"<tr><td>{it['iteration']}</td><td>{_e(_settings(it['settings']))}</td>"
                         f"<td class='fail'>skipped</td><td colspan='7'>{_e(it.get('skipped', ''))}</td></tr>")
            continue
        cls = "pass" if it["passed"] else "fail"
        riskiest = it["risks"][it["riskiest"]]
        table.append(f"<tr><td>{it['iteration']}</td><td>{_e(_settings(it['settings']))}</td>"
                     f"<td class='{cls}'>{'yes' if it['passed'] else 'no'}</td><td>{it['k_achieved']}</td>"
                     f"<td>{it['max_risk_upper']:.4f}</td><td>{_e(it['riskiest'])}</td><td>{riskiest['value']:.4f}</td>"
                     f"<td>{it.get('targets', '')} / {it.get('controls', '')}</td>"
                     f"<td>{it['utility']['loss']:.4f}</td><td>{it['suppressed']}</td></tr>")
    table.append("</table>")
    body.append("<h2>Iterations</h2>" + "".join(table))
    floors = report.get("certifiable", {})
    if floors:
        body.append("<h2>What can be certified at this size</h2><p class='note'>Upper bound a release that leaks "
                    "nothing would show, per attack: " + _e(", ".join(f"{n} {f:.4f}" for n, f in floors.items()))
                    + f". Smallest certifiable threshold: {report.get('smallest_certifiable_threshold', 0):g}.</p>")
    if iterations:
        points = [(it["utility"]["loss"], it["max_risk_upper"], f"#{it['iteration']}", it["passed"]) for it in iterations]
        body.append("<h2>Utility against risk</h2>" + _scatter(points, threshold))
        upper = max(max(r["ci"][1] for r in it["risks"].values()) for it in iterations)
        body.append("<h2>Risk per attack, per iteration (one scale)</h2>")
        for it in iterations:
            rows = [(name, r["value"], *r["ci"]) for name, r in it["risks"].items()]
            body.append(f"<h3>#{it['iteration']} {_e(_settings(it['settings']))} (k achieved {it['k_achieved']})</h3>"
                        + _risk_plot(rows, threshold, upper=max(upper, threshold)))
    screening = report.get("undeclared_columns", {})
    if screening.get("columns") or screening.get("kept"):
        rows = "".join(f"<tr><td>{_e(r['column'])}</td><td>{r['unique_alone']:.3f}</td>"
                       f"<td>{r['unique_with_quasi_identifiers']:.3f}</td><td>{_e(r['identifying'] or '')}</td></tr>"
                       for r in screening.get("columns", []))
        body.append("<h2>Columns nobody declared</h2><table><tr><th>column</th><th>unique alone</th>"
                    "<th>unique with the quasi-identifiers</th><th>identifying</th></tr>" + rows + "</table>"
                    + (f"<p class='note'>kept on purpose: {_e(', '.join(screening['kept']))}</p>"
                       if screening.get("kept") else ""))
    if report.get("hierarchies_built"):
        body.append("<p class='note'>hierarchies built from the values: "
                    + _e(", ".join(f"{c} = {s}" for c, s in report["hierarchies_built"].items())) + "</p>")
    return _page("SECURED protect: anonymize, attack, repeat", "".join(body))


# Building blocks other reports share (the synthetic-data evaluation).
page, risk_plot, risk_table, escape = _page, _risk_plot, _risk_table, _e
