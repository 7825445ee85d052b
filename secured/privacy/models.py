"""Privacy models checked on a table: equivalence classes over quasi-identifiers and k.

When a person has several rows (``id_column``), k counts distinct people per class.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..exceptions import ConfigurationError

__all__ = ["equivalence_classes", "check_k_anonymity"]


def _require(df: pd.DataFrame, columns: list[str]) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ConfigurationError(f"Column(s) {', '.join(map(repr, missing))} not in the table.")


def equivalence_classes(df: pd.DataFrame, quasi_identifiers: list[str]) -> np.ndarray:
    """An integer class label per row (rows with equal quasi-identifier values share one)."""
    _require(df, quasi_identifiers)
    return df.groupby(quasi_identifiers, sort=False, dropna=False).ngroup().to_numpy()


def check_k_anonymity(df: pd.DataFrame, quasi_identifiers: list[str], id_column: str | None = None) -> int:
    """The k the table achieves: the smallest class size (in people when ``id_column``)."""
    if len(df) == 0:
        raise ConfigurationError("The table is empty.")
    labels = equivalence_classes(df, quasi_identifiers)
    if id_column is None:
        return int(np.bincount(labels).min())
    _require(df, [id_column])
    people = pd.DataFrame({"c": labels, "p": df[id_column].to_numpy()}).drop_duplicates()
    return int(people.groupby("c").size().min())


def _classes_and_sensitive(df: pd.DataFrame, quasi_identifiers: list[str], sensitive: str):
    if len(df) == 0:
        raise ConfigurationError("The table is empty.")
    _require(df, [*quasi_identifiers, sensitive])
    labels = equivalence_classes(df, quasi_identifiers)
    values = df[sensitive].astype(str).to_numpy()
    return labels, values


def check_l_diversity(df: pd.DataFrame, quasi_identifiers: list[str], sensitive: str,
                      variant: str = "distinct", c: float | None = None) -> float:
    """The l the table achieves for ``sensitive``: distinct (fewest distinct values in a
    class), entropy (smallest exp(entropy) of a class, real-valued) or recursive (c, l) (the
    largest l with r_1 < c (r_l + ... + r_m) in every class, r sorted counts)."""
    labels, values = _classes_and_sensitive(df, quasi_identifiers, sensitive)
    counts = pd.crosstab(labels, values).to_numpy()
    if variant == "distinct":
        return float((counts > 0).sum(axis=1).min())
    if variant == "entropy":
        p = counts / counts.sum(axis=1, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            h = -np.nansum(np.where(p > 0, p * np.log(p), 0.0), axis=1)
        return float(np.exp(h).min())
    if variant == "recursive":
        if c is None or c <= 0:
            raise ConfigurationError("Recursive (c, l)-diversity needs c > 0.")
        best = np.inf
        for row in counts:
            r = np.sort(row[row > 0])[::-1]
            tails = np.cumsum(r[::-1])[::-1]  # tails[i] = r_i + ... + r_m (0-based i = l - 1)
            ok = [l for l in range(1, len(r) + 1) if r[0] < c * tails[l - 1]]
            best = min(best, max(ok) if ok else 0)
        return float(best)
    raise ConfigurationError(f"Unknown l-diversity variant {variant!r}; use distinct, entropy or recursive.")


def check_t_closeness(df: pd.DataFrame, quasi_identifiers: list[str], sensitive: str,
                      distance: str = "equal", hierarchy=None) -> float:
    """The t the table achieves: the largest Earth Mover's Distance between a class's
    distribution of ``sensitive`` and the whole table's. ``equal`` (categories), ``ordered``
    (numbers, sorted), or ``hierarchical`` (with a Hierarchy of the sensitive column)."""
    labels, values = _classes_and_sensitive(df, quasi_identifiers, sensitive)
    if distance == "ordered":
        order = np.unique(pd.to_numeric(df[sensitive], errors="raise").to_numpy())
        keys = pd.to_numeric(df[sensitive]).to_numpy()
        col = np.searchsorted(order, keys)
        counts = np.zeros((labels.max() + 1, len(order)))
        np.add.at(counts, (labels, col), 1)
    else:
        table = pd.crosstab(labels, values)
        counts, leaves = table.to_numpy().astype(float), list(table.columns)
    p = counts / counts.sum(axis=1, keepdims=True)
    q = counts.sum(axis=0) / counts.sum()
    diff = p - q
    if distance == "equal":
        return float((0.5 * np.abs(diff).sum(axis=1)).max())
    if distance == "ordered":
        m = diff.shape[1]
        if m == 1:
            return 0.0
        return float((np.abs(np.cumsum(diff, axis=1)).sum(axis=1) / (m - 1)).max())
    if distance == "hierarchical":
        if hierarchy is None:
            raise ConfigurationError("Hierarchical t-closeness needs the sensitive column's hierarchy.")
        height = hierarchy.height - 1
        extra = diff  # per leaf
        groups = np.arange(len(leaves))
        total = np.zeros(diff.shape[0])
        for level in range(1, hierarchy.height):
            parents = hierarchy.table.loc[[str(v) for v in leaves], level].to_numpy()
            _, parent_of_leaf = np.unique(parents, return_inverse=True)
            # children at the previous level, grouped under their parents at this level
            child_ids = np.unique(groups)
            child_extra = np.stack([extra[:, groups == g].sum(axis=1) for g in child_ids], axis=1)
            child_parent = np.array([parent_of_leaf[np.argmax(groups == g)] for g in child_ids])
            for parent in np.unique(child_parent):
                ce = child_extra[:, child_parent == parent]
                pos = np.where(ce > 0, ce, 0).sum(axis=1)
                neg = np.where(ce < 0, -ce, 0).sum(axis=1)
                total += (level / height) * np.minimum(pos, neg)
            groups = parent_of_leaf
        return float(total.max())
    raise ConfigurationError(f"Unknown t-closeness distance {distance!r}; use equal, ordered or hierarchical.")


__all__ += ["check_l_diversity", "check_t_closeness"]
