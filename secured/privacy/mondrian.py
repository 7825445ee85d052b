"""Mondrian multidimensional local recoding (strict partitioning, median cuts).

Numeric quasi-identifiers are cut at the median; categorical ones are ordered along their
hierarchy (leaves sorted by their path from the root, so neighbours share ancestors) and cut
at the median of that order. A partition is cut on the widest dimension (normalized range)
whose two halves both pass the privacy criteria (k rows or people, and l-diversity /
t-closeness of the sensitive column when asked); it stops when no dimension allows a cut.
Each final partition is released with numeric values as "[min, max]" and categorical values
as their lowest common ancestor in the hierarchy.

``Mondrian.transform`` routes new rows (e.g. a held-out test set, or an attacker's targets)
down the recorded tree of cuts to their partition, so a model trained on the release can be
tested on original rows.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from ..exceptions import ConfigurationError
from .criteria import CriteriaEvaluator, PrivacyCriteria
from .hierarchy import Hierarchy, format_number as _fmt

__all__ = ["Mondrian", "mondrian"]


class Mondrian:
    """Strict Mondrian partitioning; ``fit_transform(df)`` returns the release."""

    def __init__(self, quasi_identifiers: list[str], criteria: PrivacyCriteria, *,
                 hierarchies: dict[str, Hierarchy] | None = None, numeric: list[str] | None = None) -> None:
        self.quasi_identifiers, self.criteria = list(quasi_identifiers), criteria
        self.hierarchies, self.numeric = hierarchies or {}, list(numeric or [])

    def _ordinals(self, df: pd.DataFrame) -> list[np.ndarray]:
        out = []
        for j, c in enumerate(self.quasi_identifiers):
            if c in self.numeric:
                values = pd.to_numeric(df[c], errors="coerce").to_numpy(dtype=float)
                if np.isnan(values).any():
                    raise ConfigurationError(f"Numeric quasi-identifier {c!r} has missing or non-numeric values.")
                out.append(values)
            else:
                self.hierarchies[c].check_covers(df[c])
                out.append(self._rank[j].loc[self.hierarchies[c].keys(df[c])].to_numpy(dtype=float))
        return out

    def _prepare(self, df: pd.DataFrame) -> None:
        missing = [c for c in [*self.quasi_identifiers, *([self.criteria.id_column] if self.criteria.id_column else [])]
                   if c not in df.columns]
        if missing:
            raise ConfigurationError(f"Column(s) {', '.join(map(repr, missing))} not in the table.")
        self._prepare_orders()

    def _prepare_orders(self) -> None:
        self._rank, self._levels = [], []
        for c in self.quasi_identifiers:
            if c in self.numeric:
                self._rank.append(None)
                self._levels.append(None)
                continue
            if c not in self.hierarchies:
                raise ConfigurationError(f"Categorical quasi-identifier {c!r} needs a hierarchy (or list it as numeric).")
            h = self.hierarchies[c]
            paths = h.table.iloc[:, ::-1].astype(str).agg("\x1f".join, axis=1)
            order = paths.sort_values(kind="stable").index
            self._rank.append(pd.Series(np.arange(len(order)), index=order))
            levels = []  # per level: ancestor code of each leaf (by rank) and the code names
            for level in range(h.height):
                names, codes = np.unique(h.table.loc[order, level].to_numpy(), return_inverse=True)
                levels.append((codes, names))
            self._levels.append(levels)

    def fit_transform(self, df: pd.DataFrame, progress: Callable[[int, int], None] | None = None) -> pd.DataFrame:
        k = self.criteria.k
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 2:
            raise ConfigurationError(f"The 'k' parameter must be an int in the range [2, inf). Got {k!r} instead.")
        self._prepare(df)
        ev = CriteriaEvaluator(df, self.criteria)
        ordinals = self._ordinals(df)
        n = len(df)
        q = ev.global_distribution()
        if not ev.partition_ok(np.arange(n), q):
            raise ConfigurationError("The whole table does not meet the privacy criteria; lower l or raise t.")
        spans = np.array([max(o.max() - o.min(), 1e-12) for o in ordinals])
        X = np.stack(ordinals, axis=1)
        final: list[np.ndarray] = []
        # the cut tree, to route new rows: per node (dim, threshold, cut is '<=' not '<', left, right, part)
        tree: list[list] = [[-1, 0.0, False, -1, -1, -1]]
        stack = [(np.arange(n), 0)]
        done = 0
        while stack:
            idx, node = stack.pop()
            sub = X[idx]
            widths = (sub.max(axis=0) - sub.min(axis=0)) / spans
            cut = None
            for d in np.argsort(-widths, kind="stable"):
                if widths[d] == 0:
                    break
                vals = sub[:, d]
                median = np.median(vals)
                left = vals < median
                if not left.any():
                    left = vals <= median
                if left.all():
                    continue
                a, b = idx[left], idx[~left]
                if ev.partition_ok(a, q) and ev.partition_ok(b, q):
                    cut = (a, b)
                    tree[node][:3] = [int(d), float(median), not (vals < median).any()]
                    break
            if cut is None:
                tree[node][5] = len(final)
                final.append(idx)
                done += len(idx)
                if progress is not None and len(final) % 256 == 0:
                    progress(done, n)
            else:
                tree[node][3], tree[node][4] = len(tree), len(tree) + 1
                tree.extend([[-1, 0.0, False, -1, -1, -1], [-1, 0.0, False, -1, -1, -1]])
                stack.extend([(cut[0], len(tree) - 2), (cut[1], len(tree) - 1)])
        if progress is not None:
            progress(n, n)
        self.tree_ = tree
        part = np.empty(n, dtype=np.int64)
        for p, idx in enumerate(final):
            part[idx] = p
        self.partitions_ = len(final)
        self.box_lo_ = np.stack([pd.Series(o).groupby(part).min().to_numpy() for o in ordinals], axis=1)
        self.box_hi_ = np.stack([pd.Series(o).groupby(part).max().to_numpy() for o in ordinals], axis=1)
        self.spans_ = spans
        self.labels_ = [self._box_labels(j) for j in range(len(self.quasi_identifiers))]
        out = df.copy()
        for j, c in enumerate(self.quasi_identifiers):
            out[c] = self.labels_[j][part]
        self.part_ = part
        return out

    def _box_labels(self, j: int) -> np.ndarray:
        lo, hi = self.box_lo_[:, j], self.box_hi_[:, j]
        if self._levels[j] is None:
            return np.array([_fmt(a) if a == b else f"[{_fmt(a)}, {_fmt(b)}]" for a, b in zip(lo, hi)], dtype=object)
        # lowest level where the first and last leaf of the box (in hierarchy order) meet: leaves
        # in between share that ancestor because the order follows the tree
        lo_i, hi_i = lo.astype(np.int64), hi.astype(np.int64)
        out = np.empty(len(lo), dtype=object)
        unset = np.ones(len(lo), dtype=bool)
        for codes, names in self._levels[j]:
            meet = unset & (codes[lo_i] == codes[hi_i])
            out[meet] = names[codes[lo_i[meet]]]
            unset &= ~meet
        return out

    def to_dict(self) -> dict:
        """The fitted cut tree and box labels (JSON-ready); the hierarchies are stored apart."""
        return {"numeric": list(self.numeric), "tree": [list(node) for node in self.tree_],
                "labels": [list(labels) for labels in self.labels_]}

    @classmethod
    def from_dict(cls, d: dict, quasi_identifiers: list[str], criteria: PrivacyCriteria,
                  hierarchies: dict[str, Hierarchy]) -> "Mondrian":
        model = cls(quasi_identifiers, criteria, hierarchies=hierarchies, numeric=d.get("numeric"))
        try:
            model.tree_ = [[int(a), float(b), bool(c), int(e), int(f), int(g)] for a, b, c, e, f, g in d["tree"]]
            model.labels_ = [np.array(labels, dtype=object) for labels in d["labels"]]
        except (KeyError, TypeError, ValueError):
            raise ConfigurationError("A stored Mondrian recoding is malformed.") from None
        if len(model.labels_) != len(quasi_identifiers):
            raise ConfigurationError("A stored Mondrian recoding does not match its quasi-identifiers.")
        model.partitions_ = len(model.labels_[0]) if model.labels_ else 0
        model._prepare_orders()
        return model

    def transform(self, df: pd.DataFrame) -> pd.DataFrame:
        """New rows generalized like the release: each routed down the tree of cuts to the
        partition whose cuts it satisfies (the box containing it when there is one)."""
        X = np.stack(self._ordinals(df), axis=1)
        boxes = np.empty(len(X), dtype=np.int64)
        queue = [(0, np.arange(len(X)))]
        while queue:
            node, idx = queue.pop()
            dim, threshold, inclusive, left, right, part = self.tree_[node]
            if part >= 0:
                boxes[idx] = part
                continue
            vals = X[idx, dim]
            go_left = vals <= threshold if inclusive else vals < threshold
            queue.append((left, idx[go_left]))
            queue.append((right, idx[~go_left]))
        out = df.copy()
        for j, c in enumerate(self.quasi_identifiers):
            out[c] = self.labels_[j][boxes]
        return out


def mondrian(df: pd.DataFrame, quasi_identifiers: list[str], k: int | PrivacyCriteria, *,
             hierarchies: dict[str, Hierarchy] | None = None, numeric: list[str] | None = None,
             id_column: str | None = None) -> tuple[pd.DataFrame, dict]:
    """(release, report): every class of the release passes the criteria (k rows or people)."""
    criteria = k if isinstance(k, PrivacyCriteria) else PrivacyCriteria(k=k, id_column=id_column)
    model = Mondrian(quasi_identifiers, criteria, hierarchies=hierarchies, numeric=numeric)
    out = model.fit_transform(df)
    sizes = out.groupby(quasi_identifiers, sort=False).size().to_numpy()
    report = {"partitions": model.partitions_, "classes": int(len(sizes)),
              "discernibility": float((sizes.astype(float) ** 2).sum()), "suppressed": 0}
    return out, report
