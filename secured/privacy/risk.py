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
  distance to the nearest original row (exact copies: distance 0) and, on equal-size samples
  of the original and of control, the share of released rows closer to the original than to
  control (about half when the release is no closer to its training rows than to new people
  from the same population; ties count half).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import hypergeom

from ..exceptions import ConfigurationError
from ..backend import privacy_kernels as kernels
from .attacks import MixedSpace, wilson

__all__ = ["reidentification_risk", "zayatz_population_uniques", "distance_to_closest_record"]


def _class_sizes(df: pd.DataFrame, qis: list[str], id_column: str | None) -> tuple[np.ndarray, pd.Series]:
    keys = df[qis].astype(str).agg("\x1f".join, axis=1)
    if id_column is not None:
        sizes = pd.DataFrame({"k": keys, "p": df[id_column].astype(str)}).drop_duplicates().groupby("k").size()
    else:
        sizes = keys.value_counts()
    return keys.to_numpy(), sizes


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
    keys, sizes = _class_sizes(release, quasi_identifiers, id_column)
    f = sizes.reindex(keys).to_numpy(dtype=float)
    n = float(sizes.sum())
    prosecutor = 1.0 / f
    out: dict[str, Any] = {
        "counted": "people" if id_column else "rows",
        "prosecutor": {"max": float(prosecutor.max()), "mean": float(len(sizes) / n),
                       "records_above_threshold": float((prosecutor > threshold).mean()), "threshold": threshold},
        "sample_uniqueness": float((sizes == 1).sum() / n),
    }
    if population is not None:
        missing = [c for c in quasi_identifiers if c not in population.columns]
        if missing:
            raise ConfigurationError(f"Column(s) {', '.join(map(repr, missing))} not in the population table.")
        _, pop_sizes = _class_sizes(population, quasi_identifiers, None)
        F = pop_sizes.reindex(sizes.index).fillna(0).to_numpy(dtype=float)
        F = np.maximum(F, sizes.to_numpy(dtype=float))
        per_record = 1.0 / pd.Series(F, index=sizes.index).reindex(keys).to_numpy()
        out["journalist"] = {"max": float(per_record.max()), "mean": float(per_record.mean()),
                             "records_above_threshold": float((per_record > threshold).mean())}
        out["marketer"] = float((sizes.to_numpy() / F).sum() / n)
        population_size = population_size or len(population)
    else:
        out["journalist"] = dict(out["prosecutor"], note="no population table: same as prosecutor")
        out["marketer"] = float(len(sizes) / n)
    if population_size:
        estimate = zayatz_population_uniques(sizes.to_numpy(), int(population_size))
        out["population_uniqueness"] = {"estimator": "zayatz", "population_size": int(population_size),
                                        "share_of_release": estimate / n}
    return out


def distance_to_closest_record(original: pd.DataFrame, release: pd.DataFrame, control: pd.DataFrame,
                               columns: list[str], *, numeric: list[str] | None = None, max_rows: int = 5000,
                               seed: int = 0) -> dict[str, Any]:
    for name, frame in (("original", original), ("release", release), ("control", control)):
        if len(frame) == 0:
            raise ConfigurationError(f"The {name} table is empty.")
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise ConfigurationError(f"Column(s) {', '.join(map(repr, missing))} not in the {name} table.")
    rng = np.random.default_rng(seed)
    rows = release.iloc[rng.choice(len(release), min(max_rows, len(release)), replace=False)]
    # equal-size reference sets so "closer to the original" is a fair coin under no leakage
    size = min(len(original), len(control))
    ori = original.iloc[rng.choice(len(original), size, replace=False)]
    ctl = control.iloc[rng.choice(len(control), size, replace=False)]
    d = []
    for reference in (ori, ctl, original):
        space = MixedSpace(reference, [rows], list(columns), numeric)
        _, dist = kernels.mixed_kneighbors(space.release, space.others[0], space.inv_range, space.kind, space.tables,
                                           space.offsets, space.ncells, int(rng.integers(0, 2**63)), 1)
        d.append(dist[:, 0])
    to_ori, to_ctl, to_full = d
    closer = int((to_ori < to_ctl).sum() + 0.5 * (to_ori == to_ctl).sum())
    share = wilson(closer, len(rows))
    return {"rows": int(len(rows)), "median_to_original": float(np.median(to_full)),
            "median_to_control": float(np.median(to_ctl)), "exact_copies": float((to_full == 0).mean()),
            "exact_copies_control": float((to_ctl == 0).mean()),
            "closer_to_original": {"value": share.value, "ci": [share.value - share.error, share.value + share.error]}}
