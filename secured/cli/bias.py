"""``secured bias report|mitigate``: bias of a table by its protected attributes, and its repair.

CSV cells are text, so ``--positive`` is compared as text there; a Parquet column keeps its
type. Groups smaller than ``--min-cell`` (default 10) are suppressed in every output.
"""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer

from ..exceptions import ConfigurationError
from ._common import RichProgress
from ._common import columns as _columns
from ._common import console
from ._common import exit_with as _exit_with

bias_app = typer.Typer(help="Bias: representation and label bias per group and intersection, and mitigations "
                            "(reweighing, resampling, synthetic rebalancing).", no_args_is_help=True)

Protected = Annotated[str, typer.Option(help="Comma-separated protected columns (e.g. race,gender,age).")]
Positive = Annotated[Optional[str], typer.Option(help="The favourable label of the target (needed unless the target "
                                                      "is 0/1 or true/false).")]
MinCell = Annotated[int, typer.Option(min=0, help="Groups with fewer rows are suppressed in every output.")]
MissingGroup = Annotated[bool, typer.Option(help="Count missing protected cells as a group of their own "
                                                 "(default: refuse them).")]
METHODS = ("reweigh", "resample", "preferential", "synthetic")


def _summary(report: Any) -> None:
    f = report.findings
    console.print(f"{report.rows:,} rows, {len(report.protected)} protected attributes; smallest group "
                  f"{f['smallest_cell']}; {f['suppressed_cells']} cells suppressed")
    if "max_statistical_parity_difference" in f:
        console.print(f"base rate {f['base_rate']:.4f}; largest statistical parity difference "
                      f"{f['max_statistical_parity_difference']:.4f}; smallest disparate impact "
                      f"{f['min_disparate_impact']:.4f}; groups below four fifths {f['groups_below_four_fifths']}")


def report_cmd(
    input: Annotated[str, typer.Argument(help="The table (.csv or .parquet).")],
    protected: Protected,
    out: Annotated[str, typer.Option("--out", help="JSON report, written atomically.")],
    target: Annotated[Optional[str], typer.Option(help="Binary outcome column (label bias).")] = None,
    positive: Positive = None,
    reference: Annotated[Optional[str], typer.Option(help="A reference population table with the protected "
                                                          "columns (ratios of shares).")] = None,
    stratify: Annotated[Optional[str], typer.Option(help="Column for conditional demographic disparity.")] = None,
    weights: Annotated[Optional[str], typer.Option(help="A weight column (e.g. from reweighing).")] = None,
    min_cell: MinCell = 10,
    intersections: Annotated[bool, typer.Option(help="Every intersection of the protected columns too.")] = True,
    missing_group: MissingGroup = False,
    html: Annotated[Optional[str], typer.Option(help="HTML report with plots.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap intervals.")] = 0,
) -> None:
    """Representation of every group and intersection, base rates and parity per group, with
    intervals; small cells suppressed."""
    from ..bias import bias_report
    from ..bias.html import bias_html
    from ..io import check_output, read_table, write_bytes, write_json

    def body() -> int:
        check_output(out, (".json",), inputs=[input], what="report")
        if html is not None:
            check_output(html, (".html",), inputs=[input, out], what="HTML report")
        table = read_table(input)
        ref = read_table(reference) if reference else None
        report = bias_report(table, _columns(protected), target, positive=positive, reference=ref, stratify=stratify,
                             weights=weights, min_cell=min_cell, intersections=intersections,
                             missing="group" if missing_group else "error", seed=seed)
        write_json(report.to_dict(), out)
        if html is not None:
            write_bytes(bias_html(report.to_dict()), html)
        _summary(report)
        return 0

    _exit_with(body)


def build_mitigation(method: str, protected: list[str], target: str, positive: Any, *, min_cell: int,
                     missing: str, seed: int, generator: str = "tvae", iterations: int | None = None,
                     device: str = "auto", min_share: float | None = None, strength: float = 1.0,
                     progress: Any = None) -> Any:
    from ..bias import Resampling, Reweighing, SyntheticRebalancing

    if method not in METHODS:
        raise ConfigurationError(f"--method must be one of {', '.join(METHODS)}.")
    common = {"positive": positive, "min_cell": min_cell, "missing": missing, "seed": seed, "strength": strength}
    if method == "reweigh":
        return Reweighing(protected, target, **common)
    if method in ("resample", "preferential"):
        return Resampling(protected, target, method="uniform" if method == "resample" else "preferential", **common)
    from .synth import build

    if generator == "mst":
        raise ConfigurationError("Synthetic rebalancing takes copula, tvae or tabddpm.")
    gen = build(generator, seed, iterations, device, progress)
    return SyntheticRebalancing(gen, protected, target, min_share=min_share, progress=progress, **common)


def mitigate_cmd(
    input: Annotated[str, typer.Argument(help="The labelled table (.csv or .parquet).")],
    protected: Protected,
    target: Annotated[str, typer.Option(help="Binary outcome column.")],
    out: Annotated[str, typer.Option("--out", help="The mitigated table, written atomically.")],
    method: Annotated[str, typer.Option(help="reweigh (adds a weight column), resample (uniform), preferential "
                                             "(resampling near the decision border) or synthetic (conditional "
                                             "synthetic rows fill groups and labels).")] = "reweigh",
    positive: Positive = None,
    report: Annotated[Optional[str], typer.Option(help="JSON before/after report.")] = None,
    html: Annotated[Optional[str], typer.Option(help="HTML report of the mitigated table, before/after.")] = None,
    weight_column: Annotated[str, typer.Option(help="Name of the weight column (reweigh).")] = "weight",
    generator: Annotated[str, typer.Option(help="copula, tvae or tabddpm (synthetic).")] = "tvae",
    iterations: Annotated[Optional[int], typer.Option(min=1, help="Training steps (tvae, tabddpm).")] = None,
    min_share: Annotated[Optional[float], typer.Option(help="Smallest share a group is filled to (synthetic; "
                                                            "default half an equal share).")] = None,
    discrete: Annotated[str, typer.Option(help="Comma-separated columns modelled as categories (synthetic).")] = "",
    device: Annotated[str, typer.Option(help="auto, cpu or cuda (synthetic).")] = "auto",
    strength: Annotated[float, typer.Option(help="Part of the way to parity, in (0, 1]: less trades less of the "
                                                "predictive power group membership carries.")] = 1.0,
    min_cell: MinCell = 10,
    missing_group: MissingGroup = False,
    seed: Annotated[int, typer.Option(help="Seed.")] = 0,
) -> None:
    """Mitigate the bias of a labelled table; the report says what changed."""
    from ..bias import bias_report
    from ..bias.html import bias_html
    from ..io import check_output, read_table, write_bytes, write_json, write_table
    from ..synth import typed

    def body() -> int:
        check_output(out, inputs=[input])
        for path, kinds, what in ((report, (".json",), "report"), (html, (".html",), "HTML report")):
            if path is not None:
                check_output(path, kinds, inputs=[input, out], what=what)
        table = read_table(input)
        missing = "group" if missing_group else "error"
        with RichProgress() as progress:
            if method == "synthetic":
                table = typed(table, discrete=[*_columns(discrete), *_columns(protected), target])
            mitigation = build_mitigation(method, _columns(protected), target, positive, min_cell=min_cell,
                                          missing=missing, seed=seed, generator=generator, iterations=iterations,
                                          device=device, min_share=min_share, strength=strength,
                                          progress=progress)
            result = mitigation.fit_resample(table, weight_column) if method == "reweigh" else \
                mitigation.fit_resample(table)
        write_table(result, out)
        made = {"method": method, **mitigation.report_}
        if report is not None:
            write_json(made, report)
        if html is not None:
            after = bias_report(result, _columns(protected), target, positive=positive, min_cell=min_cell,
                                missing=missing, weights=weight_column if method == "reweigh" else None, seed=seed)
            write_bytes(bias_html(after.to_dict(), mitigation.report_, title="SECURED bias mitigation"), html)
        b, a = mitigation.report_["before"], mitigation.report_["after"]
        console.print(f"{method}: {b['rows']:,} -> {a['rows']:,} rows; largest statistical parity difference "
                      f"{b['max_statistical_parity_difference']:.4f} -> {a['max_statistical_parity_difference']:.4f}"
                      f" -> {out}")
        return 0

    _exit_with(body)


BiasProtected = Annotated[str, typer.Option(help="Comma-separated protected columns: run the bias report on what is "
                                                 "released and keep it in the report (and the hub entry).")]
BiasTarget = Annotated[Optional[str], typer.Option(help="Binary outcome column of the bias report.")]
BiasPositive = Annotated[Optional[str], typer.Option(help="Favourable label of --bias-target.")]


def check_bias_options(table: Any, protected: str, target: str | None) -> list[str]:
    """The --bias-* options checked against the input before any long work."""
    from ..exceptions import BadInputError

    names = _columns(protected)
    if not names:
        if target is not None:
            raise ConfigurationError("--bias-target goes with --bias-protected.")
        return []
    lacking = [c for c in [*names, *([target] if target else [])] if c not in table.columns]
    if lacking:
        raise BadInputError(f"Bias column(s) {', '.join(map(repr, lacking))} not in the table.")
    return names


def bias_section(table: Any, protected: list[str], target: str | None, positive: Any) -> dict[str, Any] | None:
    """The bias report of a released table, or None without --bias-protected."""
    from ..bias import bias_report

    if not protected:
        return None
    report = bias_report(table, protected, target, positive=positive, missing="group")
    _summary(report)
    return report.to_dict()


def register(app: typer.Typer) -> None:
    bias_app.command("report")(report_cmd)
    bias_app.command("mitigate")(mitigate_cmd)
    app.add_typer(bias_app, name="bias")
