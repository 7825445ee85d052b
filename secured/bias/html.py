"""The bias report (and a mitigation's before/after) as a self-contained HTML page (inline
SVG, no scripts, no network): group shares with their intervals, base rates per group with
theirs, the spreads per grouping, and what a mitigation changed. Suppressed cells are shown
as suppressed; the page holds group labels, shares and rates, never a row."""

from __future__ import annotations

from typing import Any

from ..privacy.html import escape, page, risk_plot

__all__ = ["bias_html"]


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return escape(value)


def _label(group: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in group.items())


def _shares(entry: dict[str, Any]) -> str:
    rows = [(_label(c["group"]), c["share"], *c["ci"]) for c in entry["cells"] if not c["suppressed"]]
    hidden = sum(c["suppressed"] for c in entry["cells"])
    note = f"<p class='note'>{hidden} group(s) suppressed (fewer than the minimum cell size, or recoverable " \
           "from those that are).</p>" if hidden else ""
    return (risk_plot(rows, None) if rows else "") + note


def _rates(entry: dict[str, Any], overall: float) -> str:
    rows = [(_label(c["group"]), c["base_rate"], *c["ci"]) for c in entry["cells"] if not c["suppressed"]]
    return risk_plot(rows, overall) if rows else "<p class='note'>Every group's rate is suppressed.</p>"


def bias_html(report: dict[str, Any], mitigation: dict[str, Any] | None = None,
              title: str = "SECURED bias report") -> str:
    """``report``: ``BiasReport.to_dict()``; ``mitigation``: a mitigation's ``report_``."""
    body = [f"<p>{report['rows']:,} rows; protected attributes: {escape(', '.join(report['protected']))}"
            f"{'; target: ' + escape(report['target']) if report.get('target') else ''}. Groups with fewer than "
            f"{report['min_cell']} rows are suppressed{'; shares and rates are weighted' if report['weighted'] else ''}."
            "</p>", "<h2>Findings</h2><table>"]
    for key, value in report["findings"].items():
        body.append(f"<tr><td>{escape(key)}</td><td>{_fmt(value if not isinstance(value, list) else ', '.join(value))}"
                    "</td></tr>")
    body.append("</table>")
    if mitigation is not None:
        body.append("<h2>Before and after the mitigation</h2><table><tr><th>measure</th><th>before</th>"
                    "<th>after</th></tr>")
        for key in mitigation["before"]:
            body.append(f"<tr><td>{escape(key)}</td><td>{_fmt(mitigation['before'][key])}</td>"
                        f"<td>{_fmt(mitigation['after'][key])}</td></tr>")
        body.append("</table>")
        groups = mitigation.get("groups")
        if groups:
            body.append("<h3>Synthetic rows per filled group</h3><table><tr><th>group</th><th>real rows</th>"
                        "<th>synthetic rows</th><th>synthetic share</th><th>detection AUC</th></tr>")
            for g in groups:
                det = g.get("detection")
                body.append(f"<tr><td>{escape(_label(g['group']))}</td><td>{_fmt(g['real_rows'])}</td>"
                            f"<td>{g['synthetic_rows']:,}</td><td>{g['synthetic_share']:.3f}</td>"
                            f"<td>{'%.3f' % det['auroc'] if det else '-'}</td></tr>")
            body.append("</table>")
    body.append("<h2>Representation</h2>")
    for name, entry in report["representation"].items():
        ratio = entry.get("imbalance_ratio", entry.get("imbalance_ratio_at_least"))
        body.append(f"<h3>{escape(name)}</h3><p>{entry['groups']} groups, smallest {escape(entry['smallest_cell'])}, "
                    f"imbalance ratio {'at least ' if 'imbalance_ratio_at_least' in entry else ''}{ratio:.3g}.</p>")
        body.append(_shares(entry))
    labels = report.get("labels")
    if labels:
        body.append(f"<h2>Base rates (the dashed line: the table's, {labels['base_rate']:.4f})</h2>")
        for name, entry in labels["groupings"].items():
            spd = entry.get("statistical_parity_difference")
            di = entry.get("disparate_impact")
            summary = (f"statistical parity difference {spd['value']:.4f} [{spd['ci'][0]:.4f}, {spd['ci'][1]:.4f}], "
                       f"disparate impact {di['value']:.4f} [{di['ci'][0]:.4f}, {di['ci'][1]:.4f}]") if spd else \
                "fewer than two groups shown"
            body.append(f"<h3>{escape(name)}</h3><p>{summary}</p>")
            body.append(_rates(entry, labels["base_rate"]))
    return page(title, "".join(body))
