"""Generalization hierarchies: level 0 is the original value, the last level is '*'.

Read from ARX's CSV format (one row per original value, one column per level, ';'
separated) or built for ordered categories, code prefixes and numeric intervals. Every value
of a column must be covered; an uncovered value is an error naming the column (never the
value).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import ConfigurationError

__all__ = ["Hierarchy"]


class Hierarchy:
    """A column's generalization levels: ``table[value][level]`` as a DataFrame indexed by the
    original value (strings), columns 0..height-1."""

    def __init__(self, column: str, table: pd.DataFrame) -> None:
        if table.shape[1] < 1 or table.index.has_duplicates:
            raise ConfigurationError(f"The hierarchy of {column!r} needs unique original values.")
        self.column = column
        self.table = table.astype(str)
        self.table.columns = range(table.shape[1])

    @property
    def height(self) -> int:
        """Number of levels, original values included."""
        return self.table.shape[1]

    @classmethod
    def from_arx_csv(cls, column: str, path: str | Path, sep: str = ";") -> "Hierarchy":
        raw = pd.read_csv(path, sep=sep, header=None, dtype=str, keep_default_na=False)
        table = raw.set_index(0, drop=False)
        table.index = table.index.astype(str)
        return cls(column, table)

    @classmethod
    def from_prefix(cls, column: str, values: Any, lengths: list[int]) -> "Hierarchy":
        """Codes truncated to each prefix length (e.g. ICD-9 '250.01' -> '250' -> '25' -> '*')."""
        vals = pd.Series(pd.unique(pd.Series(values).astype(str)))
        cols = [vals] + [vals.str[:n] for n in lengths] + [pd.Series(["*"] * len(vals))]
        return cls(column, pd.concat(cols, axis=1).set_axis(vals.to_numpy(), axis=0))

    @classmethod
    def from_intervals(cls, column: str, values: Any, widths: list[float]) -> "Hierarchy":
        """Numeric values grouped into intervals [lo, lo + w) of increasing widths."""
        vals = pd.Series(pd.unique(pd.Series(values).astype(float)))
        cols = [vals.map(_fmt)]
        for w in widths:
            lo = np.floor(vals / w) * w
            cols.append(pd.Series([f"[{_fmt(a)}, {_fmt(a + w)})" for a in lo]))
        cols.append(pd.Series(["*"] * len(vals)))
        return cls(column, pd.concat(cols, axis=1).set_axis(vals.map(_fmt).to_numpy(), axis=0))

    def codes(self, values: pd.Series) -> list[np.ndarray]:
        """Per level, integer codes of the generalized values of ``values`` (for fast grouping)."""
        keys = values.astype(str)
        missing = ~keys.isin(self.table.index)
        if missing.any():
            raise ConfigurationError(
                f"The hierarchy of column {self.column!r} does not cover {int(missing.sum())} of its "
                f"values; add them to the hierarchy or clean the column.")
        rows = self.table.index.get_indexer(keys)
        out = []
        for level in range(self.height):
            labels, inverse = np.unique(self.table[level].to_numpy(), return_inverse=True)
            out.append(inverse[rows].astype(np.int64))
        return out

    def generalize(self, values: pd.Series, level: int) -> pd.Series:
        return values.astype(str).map(self.table[level])


def _fmt(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(float(v))
