"""Re-identification risk models of a release, and distance to closest record.

With f_j the number of released people in equivalence class j (over the quasi-identifiers),
n the people released and F_j the class's size in the population:

- prosecutor (the attacker knows the target is in the release): a record's risk is 1 / f_j;
  reported as the highest, the mean (= classes / n) and the share of records above a
  threshold.
- journalist (the target is in a larger population table): 1 / F_j with F_j counted in the
  given population table (classes absent from it fall back to f_j).
- marketer (re-identify as many as possible): (1/n) sum_j f_j / F_j, i.e. classes / n without
  a population table.
- sample uniqueness: the share of released people alone in their class; population
  uniqueness by Zayatz's estimator: the classes' size distribution in the sample stands in for
  the population's, and the hypergeometric chance that a population class of size i shows up
  once in a sample of n out of N gives P(population unique | sample unique).
- distance to closest record (for synthetic releases): for each released row, the mixed-type
  distance to the nearest row of the whole original (exact copies: distance 0) and of the
  whole control. Whether a released row sits closer to the original than to control is
  judged on the pooled original + control: the row's nearest neighbour there lies in the
  original with probability n / (n + m) when the row owes nothing to the original (n, m the
  two sizes; the rows are exchangeable draws from one population), and with probability 1
  when it copies one. The share is reported on the equal-size scale,
  0.5 + 0.5 (share - n/(n+m)) / (1 - n/(n+m)): 0.5 when no closer than chance, 1 for copies,
  0.75 for a release half made of copies, with no subsampling to dilute it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import hypergeom

from ..exceptions import ConfigurationError
from .attacks import MixedSpace, _check_frames, wilson
from .models import equivalence_classes

__all__ = ["reidentification_risk", "zayatz_population_uniques", "distance_to_closest_record"]


def zayatz_population_uniques(class_sizes: np.ndarray, population_size: int) -> float:
    """Expected number of sample uniques that are also unique in a population of
    ``population_size`` (Zayatz 1991)."""
    class_sizes = np.asarray(class_sizes, dtype=np.int64)
    n = int(class_sizes.sum())
    if population_size < n:
        raise ConfigurationError("The population size cannot be smaller than the sample.")
    sizes, freq = np.unique(class_sizes, return_counts=True)
    uniques = int(freq[sizes == 1].sum()) if (sizes == 1).any() else 0
    if uniques == 0:
        return 0.0
    p = freq / freq.sum()
    # chance that a population class of size i contributes exactly one record to the sample
    once = hypergeom.pmf(1, population_size, sizes, n)
    denom = float((p * once).sum())
    p_unique = float(p[sizes == 1][0] * once[sizes == 1][0] / denom) if denom > 0 else 1.0
    return uniques * min(p_unique, 1.0)


def reidentification_risk(release: pd.DataFrame, quasi_identifiers: list[str], *, id_column: str | None = None,
                          population: pd.DataFrame | None = None, population_size: int | None = None,
                          threshold: float = 0.2) -> dict[str, Any]:
    missing = [c for c in quasi_identifiers if c not in release.columns]
    if missing:
        raise ConfigurationError(f"Column(s) {', '.join(map(repr, missing))} not in the release.")
    if len(release) == 0:
        raise ConfigurationError("The release is empty.")
    if id_column is not None and id_column not in release.columns:
        id_column = None  # dropped or pseudonymized away: count rows
    if population is not None:
        missing = [c for c in quasi_identifiers if c not in population.columns]
        if missing:
            raise ConfigurationError(f"Column(s) {', '.join(map(repr, missing))} not in the population table.")
    # one labelling of the release's and the population's classes, so their sizes line up
    frames = [release] + ([population] if population is not None else [])
    labels = equivalence_classes(pd.concat([x[quasi_identifiers].astype(str) for x in frames], ignore_index=True),
                                 quasi_identifiers)
    own, m = labels[:len(release)], int(labels.max()) + 1
    if id_column is not None:
        person = pd.factorize(release[id_column])[0].astype(np.int64)
        stride = int(person.max()) + 1
        sizes = np.bincount(np.unique(own * stride + person) // stride, minlength=m)
    else:
        sizes = np.bincount(own, minlength=m)
    present = sizes > 0
    n = float(sizes.sum())
    prosecutor = 1.0 / sizes[own]
    out: dict[str, Any] = {
        "counted": "people" if id_column else "rows",
        "prosecutor": {"max": float(prosecutor.max()), "mean": float(present.sum() / n),
                       "records_above_threshold": float((prosecutor > threshold).mean()), "threshold": threshold},
        "sample_uniqueness": float((sizes == 1).sum() / n),
    }
    if population is not None:
        F = np.maximum(np.bincount(labels[len(release):], minlength=m), sizes).astype(float)
        per_record = 1.0 / F[own]
        out["journalist"] = {"max": float(per_record.max()), "mean": float(per_record.mean()),
                             "records_above_threshold": float((per_record > threshold).mean())}
        out["marketer"] = float((sizes[present] / F[present]).sum() / n)
        population_size = population_size or len(population)
    else:
        out["journalist"] = dict(out["prosecutor"], note="no population table: same as prosecutor")
        out["marketer"] = float(present.sum() / n)
    if population_size:
        estimate = zayatz_population_uniques(sizes[present], int(population_size))
        out["population_uniqueness"] = {"estimator": "zayatz", "population_size": int(population_size),
                                        "share_of_release": estimate / n}
    return out


def distance_to_closest_record(original: pd.DataFrame, release: pd.DataFrame, control: pd.DataFrame,
                               columns: list[str], *, numeric: list[str] | None = None, max_rows: int = 5000,
                               seed: int = 0) -> dict[str, Any]:
    """Distance from released rows to their closest original and control rows (see the module
    docstring); ``max_rows`` released rows are sampled, the original and control are used whole."""
    from ..backend import privacy_kernels as kernels

    _check_frames(original, release, control, columns)
    rng = np.random.default_rng(seed)
    rows = release.iloc[np.sort(rng.choice(len(release), min(max_rows, len(release)), replace=False))]
    # one space for both, so numeric columns are scaled by the same range on either side
    space = MixedSpace(pd.concat([original[list(columns)], control[list(columns)]], ignore_index=True), [rows],
                       list(columns), numeric)
    n = len(original)
    nearest = [kernels.mixed_nearest(np.ascontiguousarray(part), space.others[0], space.inv_range, space.kind,
                                     space.tables, space.offsets, space.ncells)
               for part in (space.release[:n], space.release[n:])]
    (to_ori, ties_ori), (to_ctl, ties_ctl) = nearest
    # credit per released row: its nearest neighbour in the pooled original + control lies in the
    # original (ties shared by count). Rows that are no closer to the original than to anyone
    # else from the population score n / (n + m) on average (exchangeability), copies score 1.
    tol = 1e-9 * np.maximum(np.minimum(to_ori, to_ctl), 1.0)
    credit = np.where(to_ori < to_ctl - tol, 1.0, np.where(to_ctl < to_ori - tol, 0.0,
                                                            ties_ori / np.maximum(ties_ori + ties_ctl, 1)))
    m = len(control)
    null = n / (n + m)
    share = wilson(float(credit.sum()), len(rows))

    def scaled(p: float) -> float:   # onto the equal-size scale: 0.5 = no closer than chance, 1 = copies
        return float(min(max(0.5 + 0.5 * (p - null) / (1 - null), 0.0), 1.0))

    return {"rows": int(len(rows)), "median_to_original": float(np.median(to_ori)),
            "median_to_control": float(np.median(to_ctl)), "exact_copies": float((to_ori == 0).mean()),
            "exact_copies_control": float((to_ctl == 0).mean()),
            "pooled_nearest_in_original": {"value": float(credit.mean()), "expected_if_no_leak": null},
            "closer_to_original": {"value": scaled(credit.mean()),
                                   "ci": [scaled(share.value - share.error), scaled(share.value + share.error)]}}
