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
