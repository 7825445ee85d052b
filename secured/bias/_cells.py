"""Groups of rows by protected attributes, the binary label, intervals and small-cell
suppression shared by the dataset report, the model report and the mitigations.

A *grouping* is a non-empty subset of the protected attributes; its *cells* are the value
combinations that occur. Every grouping is an aggregation of the finest one (all protected
attributes), so counts are computed once on the finest cells and summed up, which keeps a
report on a million rows to a few ``bincount`` calls.

Suppression: a cell whose count is under ``min_cell`` is suppressed (primary), and so is every
cell that could be recovered by subtraction (secondary): each margin of the finest table is
the sum of its children, and a relation ``parent = child_1 + ... + child_m`` in which exactly
one member is hidden would give it away, so one more member is hidden (the smallest child, or
the parent) until no relation has a single hidden member. The grand total is public.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..exceptions import BadInputError, ConfigurationError

MISSING = "(missing)"
MAX_GROUPS = 100
Z95 = 1.959963984540054


def jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value


def check_min_cell(min_cell: Any) -> int:
    if isinstance(min_cell, bool) or not isinstance(min_cell, (int, np.integer)) or min_cell < 0:
        raise ConfigurationError("The 'min_cell' parameter must be an int in the range [0, inf).")
    return int(min_cell)


def protected_list(df: pd.DataFrame, protected: Any) -> list[str]:
    if isinstance(protected, str):
        protected = [protected]
    if not isinstance(protected, (list, tuple)) or not protected or not all(isinstance(p, str) for p in protected):
        raise ConfigurationError("protected must be a non-empty list of column names.")
    if len(set(protected)) != len(protected):
        raise ConfigurationError("protected names a column twice.")
    missing = [p for p in protected if p not in df.columns]
    if missing:
        raise BadInputError(f"Protected column(s) {', '.join(map(repr, missing))} not in the table "
                            f"({df.shape[1]} columns).")
    return list(protected)


def check_table(df: Any, what: str = "table") -> pd.DataFrame:
    if not isinstance(df, pd.DataFrame):
        raise BadInputError(f"The {what} must be a pandas DataFrame; got {type(df).__name__}.")
    if len(df) == 0:
        raise BadInputError(f"The {what} is empty.")
    return df


@dataclass
class Encoded:
    """The protected attributes as integer codes (``codes[:, j]`` for ``attributes[j]``) with
    their categories, and the finest cells (one code per row)."""

    attributes: list[str]
    codes: np.ndarray
    categories: list[list[Any]]
    fine: np.ndarray            # per row: index of its finest cell
    fine_keys: np.ndarray       # (cells, attributes) codes of each finest cell

    def keys(self, grouping: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        """For a grouping (indices into attributes): the map finest cell -> grouping cell, and
        the grouping cells' codes."""
        sub = self.fine_keys[:, list(grouping)]
        keys, inverse = np.unique(sub, axis=0, return_inverse=True)
        return inverse.reshape(-1), keys

    def label(self, grouping: tuple[int, ...], key: np.ndarray) -> dict[str, Any]:
        return {self.attributes[a]: jsonable(self.categories[a][int(k)]) for a, k in zip(grouping, key)}

    def name(self, grouping: tuple[int, ...]) -> str:
        return " x ".join(self.attributes[a] for a in grouping)


def encode(df: pd.DataFrame, protected: Sequence[str], missing: str = "error",
           categories: Sequence[Sequence[Any]] | None = None) -> Encoded:
    """Codes of the protected columns. ``missing``: "error" refuses a missing cell (naming the
    column), "group" makes it a group of its own. ``categories`` fixes the categories (a model
    report or a mitigation applied to new rows uses those seen in fit)."""
    if missing not in ("error", "group"):
        raise ConfigurationError("missing must be 'error' (refuse missing protected cells) or 'group' (a group of "
                                 "its own).")
    codes = np.empty((len(df), len(protected)), dtype=np.int64)
    cats: list[list[Any]] = []
    for j, col in enumerate(protected):
        series = df[col]
        na = series.isna().to_numpy()
        if na.any() and missing == "error":
            raise BadInputError(f"The protected column {col!r} has missing cells. Drop or fill them, or pass "
                                "missing='group' (--missing-group) to count them as a group of their own.")
        if categories is None:
            values = series[~na]
            if values.nunique() > MAX_GROUPS:
                raise BadInputError(f"The protected column {col!r} has more than {MAX_GROUPS} distinct values; "
                                    "band it first (for example ages in decades).")
            c, uniques = pd.factorize(values, sort=True)
            known = [jsonable(u) for u in uniques]
            full = np.full(len(df), len(known), dtype=np.int64)
            full[~na] = c
            if na.any():
                known.append(MISSING)
            if len(known) < 2:
                raise BadInputError(f"The protected column {col!r} holds one value only; there are no groups to "
                                    "compare.")
        else:
            known = list(categories[j])
            lookup = {k: i for i, k in enumerate(known)}
            mapped = series.map(lambda v: lookup.get(MISSING if pd.isna(v) else jsonable(v), -1)).to_numpy()
            if (mapped < 0).any():
                raise BadInputError(f"The protected column {col!r} has a value not seen when the report or "
                                    "mitigation was fitted.")
            full = mapped.astype(np.int64)
        codes[:, j] = full
        cats.append(known)
    radix = np.array([len(c) for c in cats], dtype=np.int64)
    if float(np.prod(radix.astype(float))) < 2 ** 62:
        mixed = np.zeros(len(df), dtype=np.int64)
        for j in range(len(protected)):
            mixed = mixed * radix[j] + codes[:, j]
        uniq, fine = np.unique(mixed, return_inverse=True)
        fine_keys = np.empty((len(uniq), len(protected)), dtype=np.int64)
        rest = uniq.copy()
        for j in reversed(range(len(protected))):
            fine_keys[:, j] = rest % radix[j]
            rest //= radix[j]
    else:  # pragma: no cover - needs > 2^62 combinations
        fine_keys, fine = np.unique(codes, axis=0, return_inverse=True)
    return Encoded(list(protected), codes, cats, fine.reshape(-1), fine_keys)


def groupings(n_attributes: int, intersections: bool = True) -> list[tuple[int, ...]]:
    sizes = range(1, n_attributes + 1) if intersections else [1]
    return [g for size in sizes for g in combinations(range(n_attributes), size)]


def binary_target(df: pd.DataFrame, target: str, positive: Any = None) -> np.ndarray:
    """The target as booleans. Without ``positive``, only a boolean or 0/1 column is binary."""
    if not isinstance(target, str) or target not in df.columns:
        raise BadInputError(f"The target column {target!r} is not in the table." if isinstance(target, str)
                            else "target must be a column name.")
    series = df[target]
    if series.isna().any():
        raise BadInputError(f"The target column {target!r} has missing cells; drop those rows first.")
    if positive is not None:
        hit = series.to_numpy() == positive
        if not hit.any():
            hit = series.astype(str).to_numpy() == str(positive)
        if not hit.any():
            raise BadInputError(f"The positive label given does not occur in the target column {target!r}.")
        if hit.all():
            raise BadInputError(f"Every row of the target column {target!r} has the positive label; there is no "
                                "bias to measure.")
        return np.asarray(hit, dtype=bool)
    if series.dtype == bool:
        return series.to_numpy()
    numbers = pd.to_numeric(series, errors="coerce")
    if not numbers.isna().any() and set(np.unique(numbers.to_numpy())) <= {0, 1}:
        return numbers.to_numpy() == 1
    n = series.nunique()
    raise BadInputError(f"The target column {target!r} has {n} labels and none is known to be the positive one; "
                        "give positive= (--positive) with the label that counts as the favourable outcome.")


# -- intervals ---------------------------------------------------------------------------------------
def clopper_pearson(successes: np.ndarray, n: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Exact binomial interval, vectorized."""
    from scipy.stats import beta

    k, n = np.asarray(successes, dtype=float), np.asarray(n, dtype=float)
    a = (1 - level) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        lo = np.where(k > 0, beta.ppf(a, k, n - k + 1), 0.0)
        hi = np.where(k < n, beta.ppf(1 - a, k + 1, n - k), 1.0)
    return np.nan_to_num(lo), np.nan_to_num(hi, nan=1.0)


def wilson(p: np.ndarray, n: np.ndarray, z: float = Z95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for a proportion p observed on (effective) n, vectorized."""
    p, n = np.asarray(p, dtype=float), np.maximum(np.asarray(n, dtype=float), 1e-12)
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)


def newcombe(p1, n1, p2, n2, z: float = Z95) -> tuple[np.ndarray, np.ndarray]:
    """Newcombe's hybrid score interval for p1 - p2 (method 10)."""
    l1, u1 = wilson(p1, n1, z)
    l2, u2 = wilson(p2, n2, z)
    d = np.asarray(p1) - np.asarray(p2)
    lo = d - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    hi = d + np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return lo, hi


def ratio_interval(p1, n1, p2, n2, z: float = Z95) -> tuple[np.ndarray, np.ndarray]:
    """Katz log interval for p1 / p2 (0.5 added to zero counts)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        k1, k2 = np.maximum(p1 * n1, 0.5), np.maximum(p2 * n2, 0.5)
        r = (k1 / n1) / (k2 / n2)
        se = np.sqrt(np.maximum(1 / k1 - 1 / n1, 0) + np.maximum(1 / k2 - 1 / n2, 0))
        return r * np.exp(-z * se), r * np.exp(z * se)


def effective_n(weights_sum: np.ndarray, weights_sq_sum: np.ndarray) -> np.ndarray:
    """Kish's effective sample size of weighted cells."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(weights_sq_sum > 0, weights_sum ** 2 / weights_sq_sum, 0.0)


# -- suppression -------------------------------------------------------------------------------------
class Suppression:
    """Primary and secondary suppression over the lattice of groupings (see the module)."""

    def __init__(self, enc: Encoded, groups: list[tuple[int, ...]]) -> None:
        self.enc = enc
        self.groups = groups
        self.maps = {g: enc.keys(g) for g in groups}       # finest -> cell, cell keys

    def aggregate(self, fine_values: np.ndarray) -> dict[tuple[int, ...], np.ndarray]:
        return {g: np.bincount(m, weights=fine_values, minlength=len(k)) for g, (m, k) in self.maps.items()}

    def hide(self, counts: dict[tuple[int, ...], np.ndarray], primary: dict[tuple[int, ...], np.ndarray]
             ) -> dict[tuple[int, ...], np.ndarray]:
        """Hidden flags per grouping: ``primary`` plus what protects it from subtraction."""
        hidden = {g: primary[g].copy() for g in self.groups}
        relations = self._relations()
        changed = True
        while changed:
            changed = False
            for parent, pidx, child, cidx in relations:
                members_hidden = hidden[child][cidx]
                parent_hidden = bool(hidden[parent][pidx]) if parent else False
                n_hidden = int(members_hidden.sum()) + parent_hidden
                if n_hidden != 1:
                    continue
                # hide one more: the smallest visible child, else the parent
                visible = cidx[~members_hidden]
                if len(visible):
                    pick = visible[np.argmin(counts[child][visible])]
                    hidden[child][pick] = True
                elif parent:
                    hidden[parent][pidx] = True
                else:
                    continue  # the only member under the public total: it is the total itself
                changed = True
        return hidden

    def _relations(self) -> list[tuple[tuple[int, ...], int, tuple[int, ...], np.ndarray]]:
        if hasattr(self, "_rel"):
            return self._rel
        rel = []
        for child in self.groups:
            _, ckeys = self.maps[child]
            for drop in range(len(child)):
                parent = child[:drop] + child[drop + 1:]
                if parent and parent not in self.maps:
                    continue
                if parent:
                    _, pkeys = self.maps[parent]
                    sub = np.delete(ckeys, drop, axis=1)
                    lookup = {tuple(k): i for i, k in enumerate(pkeys)}
                    owner = np.array([lookup[tuple(s)] for s in sub])
                    for pidx in range(len(pkeys)):
                        rel.append((parent, pidx, child, np.flatnonzero(owner == pidx)))
                else:
                    rel.append(((), 0, child, np.arange(len(ckeys))))
        self._rel = rel
        return rel
