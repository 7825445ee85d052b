"""The dataset bias report: representation of every group and intersection of the protected
attributes, and label bias per group, with intervals and small cells suppressed.

Representation, for each grouping (each protected attribute and, by default, every
intersection of them): count, share with an exact (Clopper-Pearson) interval, the share of
a reference population and the ratio to it when one is given, the smallest cell and the
imbalance ratio (largest / smallest cell).

Label bias, with a binary target (``positive`` names the favourable label): base rate per
group (exact interval); per group against the rest of the table, the statistical parity
difference (rate(group) - rate(rest), Newcombe's interval) and disparate impact
(rate(group) / rate(rest), Katz's interval); per grouping, the spread that fairlearn calls
demographic parity: ``statistical_parity_difference`` = max - min of the groups' base rates
and ``disparate_impact`` = min / max, with parametric-bootstrap intervals; with
``stratify``, the conditional demographic disparity of each group (Wachter et al. 2021):
the share of the group among unfavourable outcomes minus its share among favourable ones,
averaged over the strata weighted by their size.

Small cells: counts under ``min_cell`` (default 10) and every cell they could be recovered
from are suppressed (see ``secured.bias._cells``); a group's rates are shown only when its
count, its favourable and its unfavourable counts are all shown. Summaries are taken over
the shown groups only. With ``weights`` (reweighing) shares and rates are weighted, and
suppression is still decided on the unweighted counts.

>>> from secured.data import load
>>> adult = load("adult")
>>> report = bias_report(adult, ["sex", "race"], target="salary-class", positive=">50K")
>>> round(report.labels["groupings"]["sex"]["statistical_parity_difference"]["value"], 3)
0.2
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from ..exceptions import BadInputError, ConfigurationError
from ._cells import (Encoded, Suppression, binary_target, check_min_cell, check_table, clopper_pearson,
                     effective_n, encode, groupings, jsonable, newcombe, protected_list, ratio_interval, wilson)

__all__ = ["bias_report", "BiasReport", "FOUR_FIFTHS"]

FOUR_FIFTHS = 0.8


@dataclass
class BiasReport:
    """What ``bias_report`` measured; ``to_dict()`` is its JSON."""

    rows: int
    protected: list[str]
    target: str | None
    min_cell: int
    weighted: bool
    representation: dict[str, Any]
    labels: dict[str, Any] | None
    findings: dict[str, Any]
    seconds: float
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> dict[str, Any]:
        """The findings; what the hub stores with an inventory entry."""
        return dict(self.findings)


def _weights(df: pd.DataFrame, weights: Any) -> np.ndarray | None:
    if weights is None:
        return None
    if isinstance(weights, str):
        if weights not in df.columns:
            raise BadInputError(f"The weight column {weights!r} is not in the table.")
        w = pd.to_numeric(df[weights], errors="coerce").to_numpy(dtype=float)
    else:
        w = np.asarray(weights, dtype=float)
        if w.shape != (len(df),):
            raise BadInputError(f"weights must hold one number per row ({len(df)}).")
    if not np.all(np.isfinite(w)) or (w < 0).any() or w.sum() <= 0:
        raise BadInputError("Weights must be finite, non-negative numbers with a positive sum.")
    return w


def _reference_shares(reference: Any, enc: Encoded, grouping: tuple[int, ...], missing: str) -> dict[tuple, float]:
    names = tuple(enc.attributes[a] for a in grouping)
    if reference is None:
        return {}
    if isinstance(reference, pd.DataFrame):
        lacking = [c for c in names if c not in reference.columns]
        if lacking:
            raise BadInputError(f"The reference table lacks protected column(s) {', '.join(map(repr, lacking))}.")
        ref = reference[list(names)]
        if ref.isna().any().any() and missing == "error":
            raise BadInputError("The reference table has missing cells in a protected column; drop or fill them.")
        ref = ref.astype(object).where(ref.notna(), "(missing)")
        shares = ref.value_counts(normalize=True)
        return {tuple(jsonable(v) for v in (k if isinstance(k, tuple) else (k,))): float(s) for k, s in shares.items()}
    if isinstance(reference, Mapping):
        key = names[0] if len(names) == 1 else names
        table = reference.get(key)
        if table is None:
            return {}
        if not isinstance(table, Mapping):
            raise ConfigurationError("reference maps a column (or a tuple of columns) to {category: share}.")
        out = {}
        for k, s in table.items():
            if isinstance(s, bool) or not isinstance(s, (int, float)) or not 0 <= s <= 1:
                raise ConfigurationError("Reference shares must be numbers between 0 and 1.")
            out[k if isinstance(k, tuple) else (k,)] = float(s)
        return out
    raise ConfigurationError("reference must be a DataFrame of the reference population or a mapping "
                             "{column: {category: share}}.")


def _bootstrap_spread(rates: np.ndarray, n: np.ndarray, rng: np.random.Generator, n_boot: int,
                      level: float = 0.95) -> tuple[list[float], list[float]]:
    """Parametric bootstrap of max - min and min / max of group rates."""
    if len(rates) < 2 or n_boot == 0:
        return [float("nan")] * 2, [float("nan")] * 2
    draws = rng.binomial(np.round(n).astype(np.int64)[None, :].repeat(n_boot, 0), rates[None, :]) / np.maximum(
        np.round(n), 1)[None, :]
    hi, lo = draws.max(axis=1), draws.min(axis=1)
    a = (1 - level) / 2 * 100
    diff = np.percentile(hi - lo, [a, 100 - a])
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.percentile(np.where(hi > 0, lo / hi, 1.0), [a, 100 - a])
    return [float(diff[0]), float(diff[1])], [float(ratio[0]), float(ratio[1])]


def bias_report(df: pd.DataFrame, protected: Sequence[str], target: str | None = None, *, positive: Any = None,
                reference: Any = None, stratify: str | None = None, weights: Any = None, min_cell: int = 10,
                intersections: bool = True, missing: str = "error", n_boot: int = 1000,
                seed: int = 0) -> BiasReport:
    """Representation and label bias of ``df`` for the ``protected`` columns (see the module)."""
    start = time.perf_counter()
    df = check_table(df)
    protected = protected_list(df, protected)
    min_cell = check_min_cell(min_cell)
    if isinstance(n_boot, bool) or not isinstance(n_boot, int) or n_boot < 0:
        raise ConfigurationError("The 'n_boot' parameter must be an int in the range [0, inf).")
    if target is not None and target in protected:
        raise ConfigurationError(f"The target column {target!r} is also listed as protected.")
    if stratify is not None:
        if target is None:
            raise ConfigurationError("stratify (conditional demographic disparity) needs a target.")
        if stratify not in df.columns:
            raise BadInputError(f"The stratifying column {stratify!r} is not in the table.")
        if df[stratify].isna().any():
            raise BadInputError(f"The stratifying column {stratify!r} has missing cells; drop or fill them.")
    y = binary_target(df, target, positive) if target is not None else None
    w = _weights(df, weights)
    enc = encode(df, protected, missing)
    groups = groupings(len(protected), intersections)
    supp = Suppression(enc, groups)
    fine = enc.fine
    n_fine = np.bincount(fine, minlength=len(enc.fine_keys)).astype(float)
    n = supp.aggregate(n_fine)
    wn = supp.aggregate(np.bincount(fine, weights=w, minlength=len(n_fine))) if w is not None else n
    w2 = supp.aggregate(np.bincount(fine, weights=w * w, minlength=len(n_fine))) if w is not None else n
    total_n, total_w = float(len(df)), float(w.sum()) if w is not None else float(len(df))
    total_w2 = float((w * w).sum()) if w is not None else total_w
    hidden = supp.hide(n, {g: n[g] < min_cell for g in groups})
    rng = np.random.default_rng(seed)

    representation: dict[str, Any] = {}
    absent_total = 0
    for g in groups:
        _, keys = supp.maps[g]
        share = wn[g] / total_w
        if w is None:
            lo, hi = clopper_pearson(n[g], np.full(len(keys), total_n))
        else:
            lo, hi = wilson(share, np.full(len(keys), effective_n(np.array(total_w), np.array(total_w2))))
        ref = _reference_shares(reference, enc, g, missing)
        cells, seen = [], set()
        for i, key in enumerate(keys):
            label = enc.label(g, key)
            seen.add(tuple(label.values()))
            cell: dict[str, Any] = {"group": label, "suppressed": bool(hidden[g][i])}
            if not hidden[g][i]:
                cell.update(count=int(n[g][i]), share=float(share[i]), ci=[float(lo[i]), float(hi[i])])
                if w is not None:
                    cell["weighted_count"] = float(wn[g][i])
                rs = ref.get(tuple(label.values()))
                if rs is not None:
                    cell["reference_share"] = rs
                    cell["ratio_to_reference"] = float(share[i] / rs) if rs > 0 else None
                    cell["ratio_ci"] = [float(lo[i] / rs), float(hi[i] / rs)] if rs > 0 else None
            cells.append(cell)
        absent = [{"group": dict(zip([enc.attributes[a] for a in g], k)), "count": 0, "reference_share": s}
                  for k, s in ref.items() if k not in seen and s > 0]
        absent_total += len(absent)
        visible = ~hidden[g]
        smallest_visible = bool(visible[np.argmin(n[g])])
        entry: dict[str, Any] = {
            "cells": cells, "groups": int(len(keys)), "suppressed_cells": int(hidden[g].sum()),
            "smallest_cell": int(n[g].min()) if smallest_visible else f"<{min_cell}",
        }
        if smallest_visible:
            entry["imbalance_ratio"] = float(n[g].max() / n[g].min())
        else:
            entry["imbalance_ratio_at_least"] = float(n[g].max() / max(min_cell - 1, 1))
        if absent:
            entry["absent_reference_groups"] = absent
        representation[enc.name(g)] = entry

    labels = None
    findings: dict[str, Any] = {"protected": protected, "rows": int(total_n), "min_cell": min_cell,
                                "suppressed_cells": int(sum(h.sum() for h in hidden.values())),
                                "smallest_cell": representation[enc.name(groups[-1])]["smallest_cell"]}
    if reference is not None:
        under = [(name, c) for name, e in representation.items() for c in e["cells"]
                 if c.get("ratio_ci") and c["ratio_ci"][1] < FOUR_FIFTHS]
        findings["under_represented_groups"] = len(under) + absent_total
    if y is not None:
        labels, label_findings = _labels(df, y, w, enc, supp, groups, n, hidden, min_cell, stratify, n_boot, rng)
        findings.update(label_findings)
    settings = {"intersections": intersections, "missing": missing, "positive_given": positive is not None,
                "stratify": stratify, "reference": reference is not None, "n_boot": n_boot, "seed": seed}
    return BiasReport(rows=int(total_n), protected=protected, target=target, min_cell=min_cell,
                      weighted=w is not None, representation=representation, labels=labels, findings=findings,
                      seconds=time.perf_counter() - start, settings=settings)


def _labels(df, y, w, enc: Encoded, supp: Suppression, groups, n, hidden, min_cell, stratify, n_boot, rng):
    fine = enc.fine
    size = len(enc.fine_keys)
    ww = w if w is not None else np.ones(len(y))
    pos_fine = np.bincount(fine, weights=y.astype(float), minlength=size)
    n_fine = np.bincount(fine, minlength=size).astype(float)
    pos = supp.aggregate(pos_fine)
    neg = {g: n[g] - pos[g] for g in groups}
    wpos = supp.aggregate(np.bincount(fine, weights=ww * y, minlength=size))
    wn = supp.aggregate(np.bincount(fine, weights=ww, minlength=size))
    w2 = supp.aggregate(np.bincount(fine, weights=ww * ww, minlength=size))
    # a rate is shown when its group's count, favourable and unfavourable counts are all safe
    rate_hidden = {g: hidden[g] | (pos[g] < min_cell) | (neg[g] < min_cell) for g in groups}
    for _ in range(10):
        before = sum(int(h.sum()) for h in rate_hidden.values())
        rate_hidden = supp.hide(pos, rate_hidden)
        rate_hidden = supp.hide(neg, rate_hidden)
        if sum(int(h.sum()) for h in rate_hidden.values()) == before:
            break
    total_w, total_pos = float(ww.sum()), float((ww * y).sum())
    overall = total_pos / total_w
    cdd = _cdd(df, y, ww, enc, supp, groups, stratify) if stratify else None

    out: dict[str, Any] = {}
    worst_spd, worst_di, below = 0.0, 1.0, 0
    for g in groups:
        rate = wpos[g] / np.maximum(wn[g], 1e-300)
        neff = effective_n(wn[g], w2[g]) if w is not None else n[g]
        if w is None:
            lo, hi = clopper_pearson(pos[g], n[g])
        else:
            lo, hi = wilson(rate, neff)
        rest_w = total_w - wn[g]
        with np.errstate(divide="ignore", invalid="ignore"):
            rest = np.where(rest_w > 0, (total_pos - wpos[g]) / rest_w, np.nan)
        rest_n = float(len(y)) - n[g] if w is None else effective_n(total_w - wn[g], float((ww * ww).sum()) - w2[g])
        dlo, dhi = newcombe(rate, neff, rest, rest_n)
        rlo, rhi = ratio_interval(rate, neff, rest, rest_n)
        _, keys = supp.maps[g]
        cells = []
        for i, key in enumerate(keys):
            cell: dict[str, Any] = {"group": enc.label(g, key), "suppressed": bool(rate_hidden[g][i])}
            if not rate_hidden[g][i]:
                cell.update(base_rate=float(rate[i]), ci=[float(lo[i]), float(hi[i])])
                if np.isfinite(rest[i]):
                    di = float(rate[i] / rest[i]) if rest[i] > 0 else None
                    cell.update(parity_difference=float(rate[i] - rest[i]), parity_difference_ci=[float(dlo[i]),
                                float(dhi[i])], disparate_impact=di,
                                disparate_impact_ci=[float(rlo[i]), float(rhi[i])] if di is not None else None)
                    if di is not None and rhi[i] < FOUR_FIFTHS:
                        below += 1
                if cdd is not None:
                    cell["conditional_demographic_disparity"] = float(cdd[g][i])
            cells.append(cell)
        shown = ~rate_hidden[g]
        entry: dict[str, Any] = {"cells": cells, "groups_shown": int(shown.sum())}
        if shown.sum() >= 2:
            r = rate[shown]
            spd_ci, di_ci = _bootstrap_spread(r, neff[shown], rng, n_boot)
            spd, di = float(r.max() - r.min()), float(r.min() / r.max()) if r.max() > 0 else 1.0
            entry["statistical_parity_difference"] = {"value": spd, "ci": spd_ci}
            entry["disparate_impact"] = {"value": di, "ci": di_ci}
            worst_spd, worst_di = max(worst_spd, spd), min(worst_di, di)
        out[enc.name(g)] = entry
    findings = {"base_rate": overall, "max_statistical_parity_difference": worst_spd,
                "min_disparate_impact": worst_di, "groups_below_four_fifths": below}
    return {"base_rate": overall, "groupings": out}, findings


def _cdd(df, y, ww, enc: Encoded, supp: Suppression, groups, stratify) -> dict[tuple[int, ...], np.ndarray]:
    """Conditional demographic disparity of every cell of every grouping."""
    strata, _ = pd.factorize(df[stratify])
    n_strata = int(strata.max()) + 1
    size = len(enc.fine_keys)
    key = enc.fine * n_strata + strata
    pos = np.bincount(key, weights=ww * y, minlength=size * n_strata).reshape(size, n_strata)
    neg = np.bincount(key, weights=ww * ~y, minlength=size * n_strata).reshape(size, n_strata)
    acc, rej = pos.sum(axis=0), neg.sum(axis=0)
    counted = (acc > 0) & (rej > 0)
    weight = (acc + rej) * counted
    out = {}
    for g in groups:
        m, keys = supp.maps[g]
        gp = np.zeros((len(keys), n_strata))
        gn = np.zeros((len(keys), n_strata))
        np.add.at(gp, m, pos)
        np.add.at(gn, m, neg)
        with np.errstate(divide="ignore", invalid="ignore"):
            dd = np.where(counted, gn / np.where(rej > 0, rej, 1) - gp / np.where(acc > 0, acc, 1), 0.0)
        out[g] = (dd * weight).sum(axis=1) / max(weight.sum(), 1e-300)
    return out
