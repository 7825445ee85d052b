"""Privacy criteria evaluated on many equivalence classes at once.

``PrivacyCriteria`` holds what a release must satisfy: k-anonymity (people, not rows, when an
id column is given), optionally l-diversity (distinct, entropy with a real-valued l,
recursive (c, l)) and t-closeness (equal, ordered or hierarchical ground distance) of one
sensitive column. ``CriteriaEvaluator`` binds the criteria to a table once (sensitive values
as integer codes, the table's distribution, the hierarchy tree as matrices) and then judges a
whole partition of the rows in a few vectorized operations: the lattice search, Mondrian and
the release writer all use this one implementation, so what the search promises is exactly
what the release holds.

With an id column, l and t count people, not rows: a person weighs 1 in a class, split evenly
over the distinct sensitive values they hold there.

t is measured against the distribution of the table being released: after suppression that
is the distribution of the rows kept (``CriteriaEvaluator.suppress`` iterates to a fixpoint,
so the release passes when its own classes are compared with its own distribution, the way
an independent check of the released file computes t).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..exceptions import ConfigurationError
from .hierarchy import Hierarchy

__all__ = ["PrivacyCriteria", "CriteriaEvaluator", "L_VARIANTS", "T_DISTANCES", "person_weighted_counts"]

L_VARIANTS = ("distinct", "entropy", "recursive")
T_DISTANCES = ("equal", "ordered", "hierarchical")


@dataclass(frozen=True)
class PrivacyCriteria:
    """What a release must satisfy: k (people with an id column), optionally l-diversity and
    t-closeness of one sensitive column."""
    k: int
    sensitive: str | None = None
    l: float | None = None
    l_variant: str = "distinct"
    c: float | None = None
    t: float | None = None
    t_distance: str = "equal"
    t_hierarchy: Hierarchy | None = None
    id_column: str | None = None

    def validate(self) -> None:
        if isinstance(self.k, bool) or not isinstance(self.k, (int, np.integer)) or self.k < 1:
            raise ConfigurationError(f"The 'k' parameter must be an int in the range [1, inf). Got {self.k!r} instead.")
        if self.l_variant not in L_VARIANTS:
            raise ConfigurationError(f"The 'l_variant' parameter must be one of {', '.join(L_VARIANTS)}. "
                                     f"Got {self.l_variant!r} instead.")
        if self.t_distance not in T_DISTANCES:
            raise ConfigurationError(f"The 't_distance' parameter must be one of {', '.join(T_DISTANCES)}. "
                                     f"Got {self.t_distance!r} instead.")
        if (self.l is not None or self.t is not None) and not self.sensitive:
            raise ConfigurationError("l-diversity and t-closeness need a sensitive column (--sensitive).")
        if self.l is not None and not self.l >= 1:
            raise ConfigurationError(f"The 'l' parameter must be >= 1. Got {self.l!r} instead.")
        if self.l is not None and self.l_variant == "recursive" and not (self.c is not None and self.c > 0):
            raise ConfigurationError("Recursive (c, l)-diversity needs c > 0 (--c).")
        if self.t is not None and not 0 <= self.t <= 1:
            raise ConfigurationError(f"The 't' parameter must be in [0, 1]. Got {self.t!r} instead.")
        if self.t is not None and self.t_distance == "hierarchical" and self.t_hierarchy is None:
            raise ConfigurationError("Hierarchical t-closeness needs a hierarchy of the sensitive column.")

    def describe(self) -> str:
        parts = [f"k = {self.k}" + (" people" if self.id_column else "")]
        if self.l is not None:
            parts.append(f"l = {self.l:g} ({self.l_variant}{f', c = {self.c:g}' if self.c else ''}) for {self.sensitive!r}")
        if self.t is not None:
            parts.append(f"t = {self.t:g} ({self.t_distance}) for {self.sensitive!r}")
        return ", ".join(parts)

    @property
    def needs_sensitive(self) -> bool:
        return self.l is not None or self.t is not None


class CriteriaEvaluator:
    """The criteria bound to one table (rows in a fixed order)."""

    def __init__(self, df: pd.DataFrame, criteria: PrivacyCriteria) -> None:
        criteria.validate()
        self.criteria = criteria
        self.n = len(df)
        self.people = None
        if criteria.id_column is not None:
            if criteria.id_column not in df.columns:
                raise ConfigurationError(f"The id column {criteria.id_column!r} is not in the table.")
            self.people = pd.factorize(df[criteria.id_column])[0].astype(np.int64)
            self._stride = int(self.people.max()) + 1 if len(self.people) else 1
        population = self.n if self.people is None else int(self.people.max()) + 1 if self.n else 0
        if population < criteria.k:
            raise ConfigurationError(f"k = {criteria.k} is larger than the number of "
                                     f"{'people' if self.people is not None else 'rows'} in the table.")
        self.sens = None
        if criteria.sensitive is not None:
            if criteria.sensitive not in df.columns:
                raise ConfigurationError(f"The sensitive column {criteria.sensitive!r} is not in the table.")
            column = df[criteria.sensitive]
            if column.isna().any():
                raise ConfigurationError(f"The sensitive column {criteria.sensitive!r} has missing values (NaN); "
                                         "fill or drop them first.")
            if criteria.t_distance == "ordered":
                numbers = pd.to_numeric(column, errors="coerce")
                if numbers.isna().any():
                    raise ConfigurationError(f"Ordered t-closeness needs numbers in {criteria.sensitive!r}.")
                self.values, self.sens = np.unique(numbers.to_numpy(dtype=float), return_inverse=True)
            else:
                self.values, self.sens = np.unique(column.astype(str).to_numpy(), return_inverse=True)
            self.sens = self.sens.astype(np.int64)
            self.S = len(self.values)
            self._levels = None
            if criteria.t is not None and criteria.t_distance == "hierarchical":
                self._levels = _tree_matrices(criteria.t_hierarchy, self.values, criteria.sensitive)

    # -- per class statistics ------------------------------------------------------------
    def class_sizes(self, labels: np.ndarray, n_classes: int, rows: np.ndarray | None = None) -> np.ndarray:
        """People (or rows) per class; ``rows`` restricts to a subset of the table."""
        if self.people is None:
            return np.bincount(labels, minlength=n_classes)
        people = self.people if rows is None else self.people[rows]
        stride = self._stride
        pairs = np.unique(labels.astype(np.int64) * stride + people)
        return np.bincount(pairs // stride, minlength=n_classes)

    def sensitive_counts(self, labels: np.ndarray, n_classes: int, rows: np.ndarray | None = None) -> np.ndarray:
        """(classes x values) counts of the sensitive column: of people when an id column is
        given (each person once per class, split over their distinct values), else rows."""
        sens = self.sens if rows is None else self.sens[rows]
        people = None if self.people is None else (self.people if rows is None else self.people[rows])
        return person_weighted_counts(labels.astype(np.int64), sens, people, n_classes, self.S)

    def l_of(self, counts: np.ndarray) -> np.ndarray:
        """l per class (rows of ``counts``) for the configured variant."""
        return l_diversity(counts, self.criteria.l_variant, self.criteria.c)

    def t_of(self, counts: np.ndarray, q: np.ndarray) -> np.ndarray:
        return t_closeness(counts, q, self.criteria.t_distance, self._levels)

    def class_ok(self, sizes: np.ndarray, counts: np.ndarray | None, q: np.ndarray | None) -> np.ndarray:
        ok = sizes >= self.criteria.k
        if self.criteria.l is not None:
            ok &= self.l_of(counts) >= self.criteria.l - 1e-12
        if self.criteria.t is not None:
            ok &= self.t_of(counts, q) <= self.criteria.t + 1e-12
        return ok

    def suppress(self, labels: np.ndarray, compact: bool = False) -> np.ndarray:
        """Rows to keep (bool mask): classes failing the criteria are removed, repeatedly,
        until the kept rows pass against their own distribution. ``compact`` says the labels
        are already 0..m-1 with every value present."""
        if not compact:
            labels = np.unique(labels, return_inverse=True)[1]
        n_classes = int(labels.max()) + 1 if len(labels) else 0
        sizes = self.class_sizes(labels, n_classes)
        counts = self.sensitive_counts(labels, n_classes) if self.criteria.needs_sensitive else None
        keep_class = np.ones(n_classes, dtype=bool)
        for _ in range(64):
            q = None
            if counts is not None:
                kept_rows = np.flatnonzero(keep_class[labels])
                if len(kept_rows) == 0:
                    return np.zeros(len(labels), dtype=bool)
                q = self.distribution(kept_rows)
            ok = keep_class & self.class_ok(sizes, counts, q)
            if (ok == keep_class).all() or self.criteria.t is None:
                keep_class = ok
                break
            keep_class = ok
        return keep_class[labels]

    def partition_ok(self, rows: np.ndarray, q: np.ndarray | None) -> bool:
        """Whether the rows ``rows`` form an acceptable class (Mondrian's cut test)."""
        zero = np.zeros(len(rows), dtype=np.int64)
        sizes = self.class_sizes(zero, 1, rows)
        counts = self.sensitive_counts(zero, 1, rows) if self.criteria.needs_sensitive else None
        return bool(self.class_ok(sizes, counts, q)[0])

    def global_distribution(self) -> np.ndarray | None:
        return None if self.sens is None else self.distribution(None)

    def distribution(self, rows: np.ndarray | None) -> np.ndarray:
        """The sensitive column's distribution over ``rows`` (all when None), the reference t is
        measured against: rows, or people each weighing 1 split over their distinct values."""
        n = self.n if rows is None else len(rows)
        counts = self.sensitive_counts(np.zeros(n, dtype=np.int64), 1, rows)[0]
        return counts / counts.sum()


def person_weighted_counts(labels: np.ndarray, codes: np.ndarray, people: np.ndarray | None, n_classes: int,
                           n_values: int) -> np.ndarray:
    """(classes x values) counts of rows, or of people when ``people`` codes are given: a person
    weighs 1 in each class, split evenly over the distinct values they hold there."""
    if people is None:
        flat = np.bincount(labels * n_values + codes, minlength=n_classes * n_values)
        return flat.reshape(n_classes, n_values).astype(np.float64)
    triples = np.unique(np.stack([labels, people, codes], axis=1), axis=0)   # (class, person, value) once
    pair = triples[:, 0] * (int(people.max()) + 1) + triples[:, 1]
    _, inverse, per_pair = np.unique(pair, return_inverse=True, return_counts=True)
    weights = 1.0 / per_pair[inverse]
    flat = np.bincount(triples[:, 0] * n_values + triples[:, 2], weights=weights, minlength=n_classes * n_values)
    return flat.reshape(n_classes, n_values)


def l_diversity(counts: np.ndarray, variant: str, c: float | None = None) -> np.ndarray:
    """l per row of a (classes x values) count matrix."""
    if variant == "distinct":
        return (counts > 0).sum(axis=1).astype(float)
    if variant == "entropy":
        p = counts / counts.sum(axis=1, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            h = -np.where(p > 0, p * np.log(p), 0.0).sum(axis=1)
        return np.exp(h)
    if variant == "recursive":
        if c is None or c <= 0:
            raise ConfigurationError("Recursive (c, l)-diversity needs c > 0.")
        r = -np.sort(-counts, axis=1)                      # descending per class
        tails = np.cumsum(r[:, ::-1], axis=1)[:, ::-1]     # tails[:, i] = r_i + ... + r_m
        present = r > 0
        holds = (r[:, :1] < c * tails) & present           # l = i + 1 holds
        idx = np.arange(1, counts.shape[1] + 1)
        return np.where(holds, idx, 0).max(axis=1).astype(float)
    raise ConfigurationError(f"Unknown l-diversity variant {variant!r}; use distinct, entropy or recursive.")


def t_closeness(counts: np.ndarray, q: np.ndarray, distance: str, levels=None) -> np.ndarray:
    """Earth Mover's Distance per row of ``counts`` (classes x values) to the distribution q."""
    p = counts / counts.sum(axis=1, keepdims=True)
    diff = p - q
    if distance == "equal":
        return 0.5 * np.abs(diff).sum(axis=1)
    if distance == "ordered":
        m = diff.shape[1]
        if m == 1:
            return np.zeros(len(diff))
        return np.abs(np.cumsum(diff, axis=1)).sum(axis=1) / (m - 1)
    if distance == "hierarchical":
        if levels is None:
            raise ConfigurationError("Hierarchical t-closeness needs the sensitive column's hierarchy.")
        total = np.zeros(len(diff))
        for weight, child_of_leaf, parent_of_child in levels:
            extra = diff @ child_of_leaf                  # per child group at the previous level
            pos = np.maximum(extra, 0) @ parent_of_child  # per parent: surplus and deficit
            neg = np.maximum(-extra, 0) @ parent_of_child
            total += weight * np.minimum(pos, neg).sum(axis=1)
        return total
    raise ConfigurationError(f"Unknown t-closeness distance {distance!r}; use equal, ordered or hierarchical.")


def _tree_matrices(hierarchy: Hierarchy, leaves: np.ndarray, column: str) -> list:
    """Per level of the hierarchy (1..H-1): (weight, leaf -> child group one-hot, child group
    -> parent one-hot), for the hierarchical ground distance (cost level / (H - 1))."""
    missing = [v for v in leaves if str(v) not in hierarchy.table.index]
    if missing:
        raise ConfigurationError(f"The hierarchy of {column!r} does not cover {len(missing)} of its values.")
    keys = [str(v) for v in leaves]
    height = hierarchy.height - 1
    out = []
    child = np.arange(len(keys))
    for level in range(1, hierarchy.height):
        parent = np.unique(hierarchy.table.loc[keys, level].to_numpy(), return_inverse=True)[1]
        child_ids, first = np.unique(child, return_index=True)
        leaf_to_child = np.zeros((len(keys), len(child_ids)))
        leaf_to_child[np.arange(len(keys)), np.searchsorted(child_ids, child)] = 1
        child_to_parent = np.zeros((len(child_ids), int(parent.max()) + 1))
        child_to_parent[np.arange(len(child_ids)), parent[first]] = 1
        out.append((level / height, leaf_to_child, child_to_parent))
        child = parent
    return out
