"""Mondrian multidimensional local recoding (strict partitioning, median cuts).

Numeric quasi-identifiers are cut at the median; categorical ones are ordered along their
hierarchy (leaves sorted by their path from the root, so neighbours share ancestors) and cut
at the median of that order. A partition is cut on the widest dimension (normalized range)
that leaves at least k rows (or people) on both sides; it stops when no dimension allows a
cut. Each final partition is released with numeric values as "[min, max]" and categorical
values as their lowest common ancestor in the hierarchy.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..exceptions import ConfigurationError
from .hierarchy import Hierarchy

__all__ = ["mondrian"]


def _fmt(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


def mondrian(df: pd.DataFrame, quasi_identifiers: list[str], k: int, *,
             hierarchies: dict[str, Hierarchy] | None = None, numeric: list[str] | None = None,
             id_column: str | None = None) -> tuple[pd.DataFrame, dict]:
    """(release, report): every class of the release has at least k rows (people)."""
    hierarchies = hierarchies or {}
    numeric = list(numeric or [])
    missing = [c for c in [*quasi_identifiers, *([id_column] if id_column else [])] if c not in df.columns]
    if missing:
        raise ConfigurationError(f"Column(s) {', '.join(map(repr, missing))} not in the table.")
    if isinstance(k, bool) or not isinstance(k, int) or k < 2:
        raise ConfigurationError(f"The 'k' parameter must be an int in the range [2, inf). Got {k!r} instead.")
    n = len(df)
    people = pd.factorize(df[id_column])[0] if id_column else None
    if (people.max() + 1 if people is not None else n) < k:
        raise ConfigurationError(f"k = {k} is larger than the number of {'people' if id_column else 'rows'}.")
    ordinals, labels_out = [], []
    for c in quasi_identifiers:
        if c in numeric:
            values = pd.to_numeric(df[c], errors="coerce").to_numpy(dtype=float)
            if np.isnan(values).any():
                raise ConfigurationError(f"Numeric quasi-identifier {c!r} has missing or non-numeric values.")
            ordinals.append(values)
            labels_out.append(None)
        else:
            if c not in hierarchies:
                raise ConfigurationError(f"Categorical quasi-identifier {c!r} needs a hierarchy (or list it as numeric).")
            h = hierarchies[c]
            h.codes(df[c])  # coverage check with a clean error
            paths = h.table.iloc[:, ::-1].astype(str).agg("\x1f".join, axis=1)
            order = paths.sort_values(kind="stable").index
            rank = pd.Series(np.arange(len(order)), index=order)
            ordinals.append(rank.loc[df[c].astype(str)].to_numpy(dtype=float))
            # per level: the ancestor of each leaf (by rank), as codes, and the code labels
            levels = []
            for level in range(h.height):
                names, codes = np.unique(h.table.loc[order, level].to_numpy(), return_inverse=True)
                levels.append((codes, names))
            labels_out.append(levels)
    spans = [max(o.max() - o.min(), 1e-12) for o in ordinals]

    def size(idx: np.ndarray) -> int:
        return len(idx) if people is None else len(np.unique(people[idx]))

    final: list[np.ndarray] = []
    stack = [np.arange(n)]
    while stack:
        idx = stack.pop()
        widths = [(o[idx].max() - o[idx].min()) / s for o, s in zip(ordinals, spans)]
        cut = None
        for d in np.argsort(widths)[::-1]:
            if widths[d] == 0:
                break
            vals = ordinals[d][idx]
            median = np.median(vals)
            left = vals < median if np.any(vals < median) else vals <= median
            if not left.all() and size(idx[left]) >= k and size(idx[~left]) >= k:
                cut = (idx[left], idx[~left])
                break
        if cut is None:
            final.append(idx)
        else:
            stack.extend(cut)
    out = df.copy()
    for j, c in enumerate(quasi_identifiers):
        column = np.empty(n, dtype=object)
        for idx in final:
            vals = ordinals[j][idx]
            if labels_out[j] is None:
                lo, hi = vals.min(), vals.max()
                column[idx] = _fmt(lo) if lo == hi else f"[{_fmt(lo)}, {_fmt(hi)}]"
            else:
                ranks = vals.astype(np.int64)
                for codes, names in labels_out[j]:  # lowest level where all leaves meet
                    anc = codes[ranks]
                    if anc.min() == anc.max():
                        column[idx] = names[anc[0]]
                        break
        out[c] = column
    sizes = out.groupby(quasi_identifiers, sort=False).size().to_numpy()
    report = {"partitions": len(final), "classes": int(len(sizes)),
              "discernibility": float((sizes.astype(float) ** 2).sum()), "suppressed": 0}
    return out, report
