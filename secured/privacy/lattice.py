"""Optimal global recoding over the generalization lattice, Flash-style.

A node gives one hierarchy level per quasi-identifier. k-anonymity (with a suppression
budget) is monotone: if a node passes, every more general node passes; if it fails, every
less general node fails. The search walks the lattice bottom-up; from each node of unknown
status it follows a path upwards through unknown nodes and binary-searches the first passing
node on it; every check tags all its successors (pass) or predecessors (fail), so most nodes
are never checked. With no suppression the discernibility metric is monotone too, so the
optimum is one of the minimal passing nodes, and only those are scored. With suppression the
metric is not monotone and every passing node is scored. An exhaustive search is provided for
comparison and tests.

Each check groups the rows by integer codes precomputed per column and level (one pass, no
string work), so a check on Adult's 30k rows takes about a millisecond.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

from ..exceptions import ConfigurationError
from .criteria import CriteriaEvaluator, PrivacyCriteria
from .hierarchy import Hierarchy

__all__ = ["LatticeResult", "optimal_recoding", "exhaustive_recoding", "NodeEvaluator", "apply_recoding"]


@dataclass
class LatticeResult:
    """The chosen node of the generalization lattice, its score and how the search got there."""
    levels: dict[str, int]            # chosen level per quasi-identifier
    metric: float                     # discernibility of the release (suppressed rows cost n each)
    suppressed: int                   # rows suppressed
    nodes_checked: int                # nodes whose privacy model was evaluated
    nodes_total: int
    seconds: float
    minimal_nodes: list[tuple[int, ...]] = field(default_factory=list)
    # per generalized quasi-identifier: rows that would have to be suppressed one level lower
    level_costs: list[dict] = field(default_factory=list)


class NodeEvaluator:
    """Checks the privacy criteria and scores nodes from precomputed per-level integer codes."""

    def __init__(self, df: pd.DataFrame, quasi_identifiers: list[str], hierarchies: dict[str, Hierarchy],
                 k: int | PrivacyCriteria, max_suppression: float = 0.0, id_column: str | None = None) -> None:
        missing = [c for c in quasi_identifiers if c not in df.columns]
        if missing:
            raise ConfigurationError(f"Quasi-identifier column(s) {', '.join(map(repr, missing))} not in the table.")
        no_h = [c for c in quasi_identifiers if c not in hierarchies]
        if no_h:
            raise ConfigurationError(f"No hierarchy for quasi-identifier(s) {', '.join(map(repr, no_h))}.")
        criteria = k if isinstance(k, PrivacyCriteria) else PrivacyCriteria(k=k, id_column=id_column)
        if isinstance(criteria.k, bool) or not isinstance(criteria.k, (int, np.integer)) or criteria.k < 2:
            raise ConfigurationError(f"The 'k' parameter must be an int in the range [2, inf). Got {criteria.k!r} instead.")
        if not 0.0 <= max_suppression < 1.0:
            raise ConfigurationError(f"'max_suppression' must be in [0, 1); got {max_suppression!r}.")
        self.n = len(df)
        self.k = criteria.k
        self.criteria = CriteriaEvaluator(df, criteria)
        self.budget = int(np.floor(max_suppression * self.n))
        self.codes = [hierarchies[c].codes(df[c]) for c in quasi_identifiers]
        self.heights = tuple(len(c) for c in self.codes)
        self.checked = 0
        self._cache: dict[tuple[int, ...], tuple[bool, float, int]] = {}

    def labels(self, node: tuple[int, ...]) -> np.ndarray:
        key = np.zeros(self.n, dtype=np.int64)
        space = 1
        for codes, level in zip(self.codes, node):
            col = codes[level]
            width = int(col.max()) + 1
            key = key * width + col
            space *= width
        return _compact(key, space)

    def evaluate(self, node: tuple[int, ...]) -> tuple[bool, float, int]:
        """(passes the criteria within the suppression budget, discernibility, rows suppressed)."""
        if node in self._cache:
            return self._cache[node]
        self.checked += 1
        labels = self.labels(node)
        keep = self.criteria.suppress(labels, compact=True)
        suppressed = int(self.n - keep.sum())
        rows_per_class = np.bincount(labels[keep])
        metric = float((rows_per_class.astype(np.float64) ** 2).sum() + suppressed * self.n)
        self._cache[node] = (suppressed <= self.budget, metric, suppressed)
        return self._cache[node]


def _compact(key: np.ndarray, space: int) -> np.ndarray:
    """Dense labels 0..m-1 for the distinct keys (a lookup table when the key space is small,
    a sort otherwise)."""
    if space <= max(4 * len(key), 1 << 16):
        present = np.zeros(space, dtype=np.int64)
        present[key] = 1
        return (np.cumsum(present) - 1)[key]
    return np.unique(key, return_inverse=True)[1]


class _Frontier:
    """Checked nodes as one array, to test 'some checked node is below (or above) this one'."""

    def __init__(self, width: int) -> None:
        self.nodes = np.empty((0, width), dtype=np.int64)

    def add(self, node: tuple[int, ...]) -> None:
        self.nodes = np.vstack([self.nodes, node])

    def below(self, node: np.ndarray) -> bool:
        return bool(self.nodes.size) and bool(np.any(np.all(self.nodes <= node, axis=1)))

    def above(self, node: np.ndarray) -> bool:
        return bool(self.nodes.size) and bool(np.any(np.all(self.nodes >= node, axis=1)))


def optimal_recoding(df: pd.DataFrame, quasi_identifiers: list[str], hierarchies: dict[str, Hierarchy],
                     k: int | PrivacyCriteria, max_suppression: float = 0.0, id_column: str | None = None,
                     progress: Callable[[int, int], None] | None = None) -> LatticeResult:
    """The generalization with the lowest discernibility among those passing ``k`` (an int, or
    PrivacyCriteria with l-diversity / t-closeness) with at most ``max_suppression`` of the
    rows suppressed. ``progress(nodes_resolved, nodes_total)`` is called as the search goes."""
    start = time.perf_counter()
    ev = NodeEvaluator(df, quasi_identifiers, hierarchies, k, max_suppression, id_column)
    nodes = sorted(itertools.product(*[range(h) for h in ev.heights]), key=lambda n: (sum(n), n))
    passing = _Frontier(len(ev.heights))  # checked nodes that pass: their successors pass
    failing = _Frontier(len(ev.heights))  # checked nodes that fail: their predecessors fail
    known: dict[tuple[int, ...], bool] = {}

    def status(node: tuple[int, ...]) -> bool | None:
        if node not in known:
            arr = np.array(node)
            if passing.below(arr):
                known[node] = True
            elif failing.above(arr):
                known[node] = False
            else:
                return None
        return known[node]

    def check(node: tuple[int, ...]) -> bool:
        ok = ev.evaluate(node)[0]
        (passing if ok else failing).add(node)
        known[node] = ok
        return ok

    for position, node in enumerate(nodes):
        if progress is not None and position % 64 == 0:
            progress(position, len(nodes))
        if status(node) is not None:
            continue
        path = [node]
        while True:  # climb through nodes of unknown status
            succ = [tuple(v + (i == j) for j, v in enumerate(path[-1])) for i in range(len(node))
                    if path[-1][i] + 1 < ev.heights[i]]
            succ = [s for s in succ if status(s) is None]
            if not succ:
                break
            path.append(min(succ))
        lo, hi = 0, len(path) - 1  # first passing node on the path (monotone along it)
        while lo <= hi:
            mid = (lo + hi) // 2
            if check(path[mid]):
                hi = mid - 1
            else:
                lo = mid + 1
    candidates = [n for n in nodes if status(n)]
    if ev.budget == 0:  # monotone metric: only minimal passing nodes can be optimal
        candidates = [n for n in candidates
                      if all(status(tuple(v - (i == j) for j, v in enumerate(n))) is False
                             for i in range(len(n)) if n[i] > 0)]
    if not candidates:
        raise ConfigurationError(f"No generalization satisfies {ev.criteria.criteria.describe()}; allow more "
                                 "suppression, use coarser hierarchies or relax the model.")
    scored = [(ev.evaluate(n)[1], n) for n in candidates]
    best_metric, best = min(scored)
    if progress is not None:
        progress(len(nodes), len(nodes))
    return LatticeResult(dict(zip(quasi_identifiers, best)), best_metric, ev.evaluate(best)[2], ev.checked,
                         len(nodes), time.perf_counter() - start, candidates, _level_costs(ev, quasi_identifiers, best))


def _level_costs(ev: NodeEvaluator, quasi_identifiers: list[str], best: tuple[int, ...]) -> list[dict]:
    """For each generalized column of the chosen node: the rows the node one level lower on that
    column would have to suppress (a level forced by a handful of rare rows shows up here)."""
    out = []
    for i, c in enumerate(quasi_identifiers):
        if best[i] == 0:
            continue
        lower = tuple(v - (j == i) for j, v in enumerate(best))
        ok, _, suppressed = ev.evaluate(lower)
        out.append({"column": c, "level": int(best[i]), "rows_to_suppress_one_level_lower": int(suppressed),
                    "passes_one_level_lower": bool(ok)})
    return out


def exhaustive_recoding(df: pd.DataFrame, quasi_identifiers: list[str], hierarchies: dict[str, Hierarchy],
                        k: int | PrivacyCriteria, max_suppression: float = 0.0,
                        id_column: str | None = None) -> LatticeResult:
    """Every node checked and scored: the reference the optimal search must agree with."""
    start = time.perf_counter()
    ev = NodeEvaluator(df, quasi_identifiers, hierarchies, k, max_suppression, id_column)
    nodes = list(itertools.product(*[range(h) for h in ev.heights]))
    results = [(ev.evaluate(n), n) for n in nodes]
    passing = [(m, n) for (ok, m, _), n in results if ok]
    if not passing:
        raise ConfigurationError(f"No generalization satisfies {ev.criteria.criteria.describe()}; allow more "
                                 "suppression, use coarser hierarchies or relax the model.")
    best_metric, best = min(passing)
    return LatticeResult(dict(zip(quasi_identifiers, best)), best_metric, ev.evaluate(best)[2], ev.checked,
                         len(nodes), time.perf_counter() - start)



def apply_recoding(df: pd.DataFrame, quasi_identifiers: list[str], hierarchies: dict[str, Hierarchy],
                   levels: dict[str, int], k: int | PrivacyCriteria, id_column: str | None = None,
                   return_kept: bool = False):
    """The release: quasi-identifiers generalized to ``levels``, rows of classes failing the
    criteria removed (k counted in people when an id column is given). With ``return_kept``
    also the boolean mask of original rows kept."""
    ev = NodeEvaluator(df, quasi_identifiers, hierarchies, k if isinstance(k, PrivacyCriteria) else
                       PrivacyCriteria(k=k, id_column=id_column), 0.0)
    keep = ev.criteria.suppress(ev.labels(tuple(levels[c] for c in quasi_identifiers)))
    out = df.copy()
    for c in quasi_identifiers:
        out[c] = hierarchies[c].generalize(df[c], levels[c])
    out = out[keep].reset_index(drop=True)
    return (out, keep) if return_kept else out
