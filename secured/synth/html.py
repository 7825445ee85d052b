"""The evaluation of a synthetic table as a self-contained HTML page (inline SVG, no scripts,
no network): per-column shapes, the summary scores against the real holdout's own, utility
(TSTR next to TRTR) and the privacy section with every attack's interval. It shows scores,
rates and settings only, never a cell."""

from __future__ import annotations

from typing import Any

from ..privacy.html import escape, page, risk_plot

__all__ = ["evaluation_html"]


def _bars(values: dict[str, float], width: int = 940) -> str:
    """One horizontal bar per column on [0, 1], the value written beside it."""
    row_h, left, right, top = 20, 220, 70, 10
    height = top + row_h * len(values) + 10
    scale = width - left - right
    parts = [f"<svg width='{width}' height='{height}' xmlns='http://www.w3.org/2000/svg' font-size='12'>"]
    for i, (name, value) in enumerate(values.items()):
        y = top + i * row_h
        color = "#7aa6d8" if value >= 0.9 else ("#e0b050" if value >= 0.75 else "#d9534f")
        parts.append(f"<text x='{left - 6}' y='{y + 13}' text-anchor='end'>{escape(name)}</text>")
        parts.append(f"<rect x='{left}' y='{y + 3}' width='{scale * max(min(value, 1), 0):.1f}' height='12' "
                     f"fill='{color}'/>")
        parts.append(f"<text x='{left + scale + 6}' y='{y + 13}'>{value:.3f}</text>")
    parts.append("</svg>")
    return "".join(parts)


def evaluation_html(report: dict[str, Any], title: str = "SECURED synthetic data evaluation") -> str:
    rows = report["rows"]
    body = [f"<p>{rows['real_train']:,} real training rows, {rows['synthetic']:,} synthetic rows, "
            f"{rows['real_holdout']:,} real holdout rows (never seen by the generator).</p>",
            "<h2>Fidelity</h2><table><tr><th>score</th><th>synthetic</th><th>real holdout (reference)</th>"
            "<th>meaning</th></tr>",
            f"<tr><td>k-marginal (SDNist, 0-1000)</td><td>{report['k_marginal']:.0f}</td>"
            f"<td>{report['k_marginal_holdout']:.0f}</td><td>3-way marginals; the holdout's score is the ceiling "
            "that sampling noise allows</td></tr>",
            f"<tr><td>column shapes (mean)</td><td>{report['shapes']['mean']:.3f}</td><td>1</td>"
            "<td>1 - KS statistic (numbers) or 1 - total variation (categories)</td></tr>",
            f"<tr><td>pair trends</td><td>{report['pair_trends']:.3f}</td><td>1</td>"
            "<td>correlations and contingency tables of column pairs</td></tr>",
            f"<tr><td>detection AUROC</td><td>{report['detection']['auroc']:.3f}</td><td>0.5</td>"
            "<td>a classifier telling real from synthetic rows; 0.5 cannot tell them apart</td></tr></table>",
            "<h3>Column shapes</h3>" + _bars(report["shapes"]["columns"])]
    utility = report.get("utility")
    if utility:
        body.append(f"<h2>Utility: predicting {escape(utility['target'])} on {utility['test_rows']:,} real holdout "
                    "rows</h2><table><tr><th>learner</th><th>train on real: F1</th><th>train on synthetic: F1</th>"
                    "<th>F1 gap</th><th>real: AUROC</th><th>synthetic: AUROC</th></tr>")
        for learner in ("gradient_boosting", "logistic_regression"):
            u = utility[learner]
            body.append(f"<tr><td>{learner.replace('_', ' ')}</td><td>{u['trtr']['f1_macro']:.3f}</td>"
                        f"<td>{u['tstr']['f1_macro']:.3f}</td><td>{u['f1_gap']:+.3f}</td>"
                        f"<td>{u['trtr']['auroc']:.3f}</td><td>{u['tstr']['auroc']:.3f}</td></tr>")
        body.append("</table>")
    privacy = report.get("privacy")
    if privacy:
        verdict = ("<p class='fail'>The generator memorizes: " + escape("; ".join(privacy["reasons"])) + "</p>"
                   if privacy["memorizes"] else "<p class='pass'>No sign of memorization.</p>")
        closer = privacy["dcr"]["closer_to_original"]
        body.append("<h2>Privacy</h2>" + verdict +
                    f"<p>exact copies of training rows: {privacy['exact_copies']:.2%} of synthetic rows (unseen real "
                    f"rows copy training rows at {privacy['exact_copies_holdout']:.2%}); synthetic rows closer to a "
                    f"training row than to a holdout row: {closer['value']:.3f} [{closer['ci'][0]:.3f}, "
                    f"{closer['ci'][1]:.3f}] (0.5: no closer).</p>")
        knowledge = privacy.get("attacks_knowledge", {})
        body.append(f"<p class='note'>attacker knows {escape(', '.join(knowledge.get('quasi_identifiers', [])))}; "
                    f"control: {escape(knowledge.get('control', ''))}</p>")
        rows_ = [(name, r["value"], *r["ci"]) for name, r in privacy["attacks"].items()]
        body.append(risk_plot(rows_, None))
    body.append(f"<p class='note'>evaluated in {report['seconds']:.1f} s</p>")
    return page(title, "".join(body))
