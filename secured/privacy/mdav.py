"""MDAV microaggregation (Maximum Distance to Average Vector) of numeric quasi-identifiers.

Columns are standardized (z-scores). While at least 3k records remain: take the centroid of
the remaining records, the record r farthest from it, the record s farthest from r; the k
records nearest r form a group, then the k nearest s (among those left). With 2k..3k-1 left,
one more group around the record farthest from the centroid and the rest as the last group;
with fewer, they all join one group. Every record is released as its group's mean, so every
group (of at least k and at most 2k-1 records) is an equivalence class of the release.

When people have several rows (``id_column``), people are aggregated instead of rows: each
person is the mean of their rows, and every row of a person takes the person's group mean, so
k counts people.

Each round is four passes over the remaining records (O(n^2 / k) in all), fused in the
compiled core (through ``secured.backend.privacy_kernels``); the numpy loop in
``secured.backend._privacy_numpy`` is the reference it is tested against.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from ..exceptions import ConfigurationError
from .criteria import PrivacyCriteria

__all__ = ["MDAV"]


def _groups(X: np.ndarray, k: int, progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """Group label per row (the compiled rounds, or their numpy twin on an unbuilt checkout)."""
    from ..backend import privacy_kernels as kernels

    if progress is not None:
        progress(0, len(X))
    out = kernels.mdav_groups(np.ascontiguousarray(X, dtype=np.float64), int(k))
    if progress is not None:
        progress(len(X), len(X))
    return out


class MDAV:
    """``fit_transform(df)`` returns the release: numeric quasi-identifiers replaced by their
    group means (rounded to ``decimals``)."""

    def __init__(self, quasi_identifiers: list[str], criteria: PrivacyCriteria, decimals: int = 2) -> None:
        self.quasi_identifiers, self.criteria, self.decimals = list(quasi_identifiers), criteria, decimals

    def _matrix(self, df: pd.DataFrame) -> np.ndarray:
        cols = []
        for c in self.quasi_identifiers:
            if c not in df.columns:
                raise ConfigurationError(f"Column {c!r} not in the table.")
            v = pd.to_numeric(df[c], errors="coerce").to_numpy(dtype=float)
            if np.isnan(v).any():
                raise ConfigurationError(f"MDAV needs numeric quasi-identifiers; {c!r} has missing or non-numeric "
                                         "values (use --method mondrian or optimal with a hierarchy for categories).")
            cols.append(v)
        return np.stack(cols, axis=1)

    def fit_transform(self, df: pd.DataFrame, progress: Callable[[int, int], None] | None = None) -> pd.DataFrame:
        crit = self.criteria
        if crit.needs_sensitive:
            raise ConfigurationError("MDAV enforces k-anonymity only; for l-diversity or t-closeness use "
                                     "--method mondrian or optimal.")
        if isinstance(crit.k, bool) or not isinstance(crit.k, (int, np.integer)) or crit.k < 2:
            raise ConfigurationError(f"The 'k' parameter must be an int in the range [2, inf). Got {crit.k!r} instead.")
        X = self._matrix(df)
        if crit.id_column is not None:
            if crit.id_column not in df.columns:
                raise ConfigurationError(f"The id column {crit.id_column!r} is not in the table.")
            person = pd.factorize(df[crit.id_column])[0]
            units = pd.DataFrame(X).groupby(person).mean().to_numpy()
        else:
            person, units = np.arange(len(X)), X
        if len(units) < crit.k:
            raise ConfigurationError(f"k = {crit.k} is larger than the number of "
                                     f"{'people' if crit.id_column else 'rows'} in the table.")
        self.mean_, self.scale_ = units.mean(axis=0), units.std(axis=0)
        self.scale_[self.scale_ == 0] = 1.0
        group = _groups((units - self.mean_) / self.scale_, crit.k, progress)
        self.centroids_ = np.round(pd.DataFrame(units).groupby(group).mean().to_numpy(), self.decimals)
        self.groups_ = int(group.max()) + 1
        row_group = group[person]
        out = df.copy()
        for j, c in enumerate(self.quasi_identifiers):
            out[c] = self.centroids_[row_group, j]
        return out

    def to_dict(self) -> dict:
        """The fitted standardization and group means (JSON-ready)."""
        return {"decimals": self.decimals, "mean": self.mean_.tolist(), "scale": self.scale_.tolist(),
                "centroids": self.centroids_.tolist()}

    @classmethod
    def from_dict(cls, d: dict, quasi_identifiers: list[str], criteria: PrivacyCriteria) -> "MDAV":
        model = cls(quasi_identifiers, criteria, decimals=int(d.get("decimals", 2)))
        try:
            model.mean_, model.scale_ = np.asarray(d["mean"], dtype=float), np.asarray(d["scale"], dtype=float)
            model.centroids_ = np.asarray(d["centroids"], dtype=float).reshape(-1, len(quasi_identifiers))
        except (KeyError, TypeError, ValueError):
            raise ConfigurationError("A stored MDAV recoding is malformed.") from None
        model.groups_ = len(model.centroids_)
        return model

    def transform(self, df: pd.DataFrame) -> pd.DataFrame:
        """New rows replaced by their nearest group mean (standardized distance)."""
        X = (self._matrix(df) - self.mean_) / self.scale_
        C = (self.centroids_ - self.mean_) / self.scale_
        nearest = np.concatenate([((X[s:s + 1024, None, :] - C[None]) ** 2).sum(axis=2).argmin(axis=1)
                                  for s in range(0, len(X), 1024)]) if len(X) else np.zeros(0, dtype=np.int64)
        out = df.copy()
        for j, c in enumerate(self.quasi_identifiers):
            out[c] = self.centroids_[nearest, j]
        return out
