"""Privacy models checked on a table: equivalence classes over quasi-identifiers and k.

When a person has several rows (``id_column``), k counts distinct people per class, and l and t
count each person once too: in a class, a person weighs 1, split evenly over the distinct
sensitive values they hold there (one value: weight 1 on it; two: 1/2 on each), so a patient
with many encounters cannot make a class look diverse or close to the table's distribution.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..exceptions import ConfigurationError
from .criteria import _tree_matrices, l_diversity, person_weighted_counts, t_closeness

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


def _classes_and_sensitive(df: pd.DataFrame, quasi_identifiers: list[str], sensitive: str,
                           id_column: str | None = None):
    if len(df) == 0:
        raise ConfigurationError("The table is empty.")
    _require(df, [*quasi_identifiers, sensitive, *([id_column] if id_column else [])])
    labels = equivalence_classes(df, quasi_identifiers)
    values = df[sensitive].astype(str).to_numpy()
    people = pd.factorize(df[id_column])[0].astype(np.int64) if id_column else None
    return labels, values, people


def check_l_diversity(df: pd.DataFrame, quasi_identifiers: list[str], sensitive: str,
                      variant: str = "distinct", c: float | None = None, id_column: str | None = None) -> float:
    """The l the table achieves for ``sensitive``: distinct (fewest distinct values in a
    class), entropy (smallest exp(entropy) of a class, real-valued) or recursive (c, l) (the
    largest l with r_1 < c (r_l + ... + r_m) in every class, r sorted counts). With
    ``id_column`` each person counts once (see the module docstring)."""
    labels, values, people = _classes_and_sensitive(df, quasi_identifiers, sensitive, id_column)
    codes = np.unique(values, return_inverse=True)[1]
    counts = _counts(labels, codes, people)
    return float(l_diversity(counts, variant, c).min())


def check_t_closeness(df: pd.DataFrame, quasi_identifiers: list[str], sensitive: str,
                      distance: str = "equal", hierarchy=None, id_column: str | None = None) -> float:
    """The t the table achieves: the largest Earth Mover's Distance between a class's
    distribution of ``sensitive`` and the whole table's. ``equal`` (categories), ``ordered``
    (numbers, sorted), or ``hierarchical`` (with a Hierarchy of the sensitive column). With
    ``id_column`` each person counts once (see the module docstring)."""
    labels, values, people = _classes_and_sensitive(df, quasi_identifiers, sensitive, id_column)
    if distance == "ordered":
        numbers = pd.to_numeric(df[sensitive], errors="coerce")
        if numbers.isna().any():
            raise ConfigurationError(f"Ordered t-closeness needs numbers in {sensitive!r}.")
        leaves, codes = np.unique(numbers.to_numpy(dtype=float), return_inverse=True)
    else:
        leaves, codes = np.unique(values, return_inverse=True)
    counts = _counts(labels, codes, people)
    whole = _counts(np.zeros(len(codes), dtype=np.int64), codes, people)[0]   # each person once overall
    q = whole / whole.sum()
    levels = None
    if distance == "hierarchical":
        if hierarchy is None:
            raise ConfigurationError("Hierarchical t-closeness needs the sensitive column's hierarchy.")
        levels = _tree_matrices(hierarchy, leaves, sensitive)
    return float(t_closeness(counts, q, distance, levels).max())


def _counts(labels: np.ndarray, codes: np.ndarray, people: np.ndarray | None = None) -> np.ndarray:
    """(classes x values) counts: rows, or people (each weighing 1 per class, split over the
    distinct values they hold in it)."""
    n_classes, s = int(labels.max()) + 1, int(codes.max()) + 1
    return person_weighted_counts(labels.astype(np.int64), codes.astype(np.int64), people, n_classes, s)


__all__ += ["check_l_diversity", "check_t_closeness"]
