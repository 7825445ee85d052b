"""Columns the data steward has not declared, and how much each one identifies people.

A release keeps every column that is not a quasi-identifier, the sensitive column, the id
column or a direct identifier (dropped or pseudonymized). Some of those kept columns identify
people by themselves (a row number, coordinates, exact amounts) or together with the
quasi-identifiers (a city that, with birth decade and gender, makes most people unique), and
k-anonymity on the declared columns says nothing about them. ``screen_columns`` measures,
for every undeclared column:

- ``unique_alone``: the share of rows whose value no other row has;
- ``unique_with_quasi_identifiers``: the share of rows unique on the quasi-identifiers (as
  given, before generalization) plus this column, next to ``unique_quasi_identifiers`` for
  the quasi-identifiers alone;

and flags it as identifying when it is unique for at least half of the rows alone, or when
adding it to the quasi-identifiers makes at least half of the rows unique and a quarter more
of them than the quasi-identifiers alone. A flagged column must be decided on before release:
declared (a quasi-identifier, sensitive, dropped or pseudonymized) or kept on purpose
(``keep``). Only column names and shares are reported, never values.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

__all__ = ["screen_columns", "ALONE", "WITH_QIS", "GAIN"]

ALONE, WITH_QIS, GAIN = 0.5, 0.5, 0.25


def _codes(values: pd.Series) -> np.ndarray:
    return pd.factorize(values, use_na_sentinel=False)[0].astype(np.int64)


def _unique_share(key: np.ndarray) -> float:
    if len(key) == 0:
        return 0.0
    _, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
    return float((counts[inverse] == 1).mean())


def screen_columns(df: pd.DataFrame, quasi_identifiers: Sequence[str], declared: Sequence[str],
                   keep: Sequence[str] | str | None = None) -> dict[str, Any]:
    """``{"columns": [...per undeclared column...], "flagged": [...names...], "kept": [...]}``;
    columns listed in ``keep`` (or every column with ``keep="all"``) are listed as kept and
    not measured."""
    declared = set(quasi_identifiers) | set(declared)
    undeclared = [c for c in df.columns if c not in declared]
    kept = list(undeclared) if keep == "all" else [c for c in (keep or []) if c in undeclared]
    qi_key = np.zeros(len(df), dtype=np.int64)
    for c in quasi_identifiers:
        codes = _codes(df[c])
        qi_key = np.unique(qi_key * (int(codes.max()) + 1 if len(codes) else 1) + codes, return_inverse=True)[1]
    base = _unique_share(qi_key)
    rows, flagged = [], []
    for c in undeclared:
        if c in kept:
            continue
        codes = _codes(df[c])
        alone = _unique_share(codes)
        joint = _unique_share(qi_key * (int(codes.max()) + 1 if len(codes) else 1) + codes)
        reason = ("unique on its own" if alone >= ALONE else
                  "unique with the quasi-identifiers" if joint >= WITH_QIS and joint - base >= GAIN else None)
        rows.append({"column": c, "unique_alone": alone, "unique_with_quasi_identifiers": joint,
                     "identifying": reason})
        if reason:
            flagged.append(c)
    return {"unique_quasi_identifiers": base, "columns": rows, "flagged": flagged, "kept": kept,
            "rule": f"flagged when unique alone for >= {ALONE:.0%} of rows, or when it makes >= {WITH_QIS:.0%} "
                    f"of rows unique with the quasi-identifiers and >= {GAIN:.0%} more than they do alone"}
