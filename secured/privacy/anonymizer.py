"""scikit-learn-shaped anonymizer and the release writer behind ``secured anonymize``.

``Anonymizer(k=5, quasi_identifiers=[...], method="optimal"|"mondrian"|"mdav", ...)``:
``__init__`` stores, ``fit_transform(df)`` returns the release and fills ``report_`` with the
achieved k (and l, t when a sensitive column is named), the suppression and the utility
metrics, all recomputed on the release; ``transform(new_rows)`` generalizes further rows the
same way (no suppression), e.g. a held-out test set.

- optimal: global recoding over the hierarchy lattice (a hierarchy per quasi-identifier),
  with record suppression up to ``max_suppression``; l-diversity and t-closeness are part of
  the search's check, not an afterthought.
- mondrian: local recoding (hierarchies for categorical quasi-identifiers, ``numeric`` for
  numeric ones); l and t constrain every cut.
- mdav: microaggregation of numeric quasi-identifiers (k-anonymity only).

Direct identifiers are removed (``drop``) or replaced by keyed pseudonyms (``pseudonymize``):
HMAC-SHA256 under a 32-byte key, so equal values stay linkable within (and, with the same
key, across) releases while nobody without the key can recompute them. Without a key a random
one is drawn and never stored (pseudonyms are then unlinkable to any other release).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from ..exceptions import ConfigurationError
from .criteria import PrivacyCriteria
from .hierarchy import Hierarchy
from .lattice import apply_recoding, optimal_recoding
from .mdav import MDAV
from .models import check_k_anonymity, check_l_diversity, check_t_closeness
from .mondrian import Mondrian
from .utility import utility_report

__all__ = ["Anonymizer", "read_table", "write_table_atomic", "write_json_atomic", "pseudonymize", "METHODS"]

METHODS = ("optimal", "mondrian", "mdav")


def pseudonymize(values: pd.Series, key: bytes) -> pd.Series:
    """HMAC-SHA256 of each value's text under ``key``, as 32 hex digits (128 bits)."""
    if not isinstance(key, bytes) or len(key) < 16:
        raise ConfigurationError("A pseudonymization key must be at least 16 random bytes.")
    uniques, inverse = np.unique(values.astype(str).to_numpy(), return_inverse=True)
    digests = np.array([hmac.new(key, u.encode(), hashlib.sha256).hexdigest()[:32] for u in uniques], dtype=object)
    return pd.Series(digests[inverse], index=values.index)


class Anonymizer:
    def __init__(self, *, k: int, quasi_identifiers: list[str], method: str = "optimal",
                 hierarchies: dict[str, Hierarchy] | None = None, numeric: list[str] | None = None,
                 max_suppression: float = 0.0, id_column: str | None = None, sensitive: str | None = None,
                 l: float | None = None, l_variant: str = "distinct", c: float | None = None,
                 t: float | None = None, t_distance: str = "equal", drop: list[str] | None = None,
                 pseudonymize: list[str] | None = None, pseudonym_key: bytes | None = None,
                 utility: bool = True, progress: Callable[[str, int, int], None] | None = None) -> None:
        self.k, self.quasi_identifiers, self.method = k, quasi_identifiers, method
        self.hierarchies, self.numeric = hierarchies, numeric
        self.max_suppression, self.id_column, self.sensitive = max_suppression, id_column, sensitive
        self.l, self.l_variant, self.c, self.t, self.t_distance = l, l_variant, c, t, t_distance
        self.drop, self.pseudonymize, self.pseudonym_key = drop, pseudonymize, pseudonym_key
        self.utility, self.progress = utility, progress

    def _criteria(self) -> PrivacyCriteria:
        t_hierarchy = (self.hierarchies or {}).get(self.sensitive) if self.t_distance == "hierarchical" else None
        return PrivacyCriteria(k=self.k, sensitive=self.sensitive, l=self.l, l_variant=self.l_variant, c=self.c,
                               t=self.t, t_distance=self.t_distance, t_hierarchy=t_hierarchy, id_column=self.id_column)

    def _validate(self, df: pd.DataFrame) -> None:
        if not isinstance(df, pd.DataFrame):
            raise ConfigurationError(f"Anonymizer.fit_transform takes a pandas DataFrame; got {type(df).__name__}.")
        if len(df) == 0:
            raise ConfigurationError("The table is empty.")
        if self.method not in METHODS:
            raise ConfigurationError(f"The 'method' parameter of Anonymizer must be one of {', '.join(METHODS)}. "
                                     f"Got {self.method!r} instead.")
        if not self.quasi_identifiers:
            raise ConfigurationError("Name at least one quasi-identifier.")
        if self.max_suppression and self.method != "optimal":
            raise ConfigurationError("Record suppression (max_suppression) applies to method 'optimal' only.")
        direct = [*(self.drop or []), *(self.pseudonymize or [])]
        cols = [*self.quasi_identifiers, *(c for c in (self.id_column, self.sensitive) if c), *direct]
        missing = [c for c in cols if c not in df.columns]
        if missing:
            raise ConfigurationError(f"Column(s) {', '.join(map(repr, missing))} not in the table; "
                                     f"available: {', '.join(map(str, df.columns))}.")
        clash = [c for c in direct if c in self.quasi_identifiers or c == self.sensitive]
        if clash:
            raise ConfigurationError(f"Column(s) {', '.join(map(repr, clash))} cannot be both a direct identifier "
                                     "(drop/pseudonymize) and a quasi-identifier or the sensitive column.")
        nan = [c for c in self.quasi_identifiers if df[c].isna().any()]
        if nan:
            raise ConfigurationError(f"Quasi-identifier(s) {', '.join(map(repr, nan))} have missing values (NaN); "
                                     "fill or drop them first.")
        self._criteria().validate()  # k, l, t, l_variant, t_distance

    def _progress(self, stage: str) -> Callable[[int, int], None] | None:
        if self.progress is None:
            return None
        return lambda done, total: self.progress(stage, done, total)

    def fit_transform(self, df: pd.DataFrame) -> pd.DataFrame:
        self._validate(df)
        qis = list(self.quasi_identifiers)
        criteria = self._criteria()
        details: dict[str, Any] = {}
        if self.method == "optimal":
            result = optimal_recoding(df, qis, self.hierarchies or {}, criteria, self.max_suppression,
                                      progress=self._progress("lattice nodes"))
            release, kept = apply_recoding(df, qis, self.hierarchies, result.levels, criteria, return_kept=True)
            self.levels_ = result.levels
            details = {"levels": result.levels, "nodes_checked": result.nodes_checked, "nodes_total": result.nodes_total}
        elif self.method == "mondrian":
            self.model_ = Mondrian(qis, criteria, hierarchies=self.hierarchies, numeric=self.numeric)
            release = self.model_.fit_transform(df, progress=self._progress("rows partitioned"))
            kept = np.ones(len(df), dtype=bool)
            details = {"partitions": self.model_.partitions_}
        else:
            self.model_ = MDAV(qis, criteria)
            release = self.model_.fit_transform(df, progress=self._progress("rows aggregated"))
            kept = np.ones(len(df), dtype=bool)
            details = {"groups": self.model_.groups_}
        report: dict[str, Any] = {
            "method": self.method, "rows_in": int(len(df)), "rows_out": int(len(release)),
            "suppressed": int(len(df) - len(release)),
            "suppression_rate": float((len(df) - len(release)) / len(df)),
            "k_requested": self.k, "k": check_k_anonymity(release, qis, self.id_column) if len(release) else 0,
            "counted": "people" if self.id_column else "rows",
            "quasi_identifiers": qis, **{f"search_{key}": v for key, v in details.items()},
        }
        if self.sensitive:
            report.update(sensitive=self.sensitive, l_variant=self.l_variant, l_requested=self.l,
                          t_distance=self.t_distance, t_requested=self.t)
            report["l"] = check_l_diversity(release, qis, self.sensitive, self.l_variant, self.c)
            report["t"] = check_t_closeness(release, qis, self.sensitive, self.t_distance,
                                            (self.hierarchies or {}).get(self.sensitive))
            if (self.l is not None and report["l"] < self.l - 1e-9) or (self.t is not None and report["t"] > self.t + 1e-9):
                raise ConfigurationError(  # the searches enforce l and t; this guards the written file
                    f"The release misses the requested l or t for {self.sensitive!r}; raise k or allow suppression.")
        if report["k"] < self.k:
            raise ConfigurationError("The release misses the requested k; this is a bug, please report it.")
        if self.utility:
            report["utility"] = utility_report(df, release, kept, qis, self.hierarchies, self.numeric, self.k)
            report["discernibility"] = report["utility"]["discernibility"]
        else:
            sizes = release.groupby(qis).size().astype(float)
            report["discernibility"] = float((sizes ** 2).sum() + (len(df) - len(release)) * len(df))
        release = self._direct_identifiers(release, report)
        self.report_ = report
        return release

    def _direct_identifiers(self, release: pd.DataFrame, report: dict[str, Any] | None = None) -> pd.DataFrame:
        if self.drop:
            release = release.drop(columns=list(self.drop))
        if self.pseudonymize:
            if not hasattr(self, "_key"):
                self._key = self.pseudonym_key if self.pseudonym_key is not None else secrets.token_bytes(32)
            for c in self.pseudonymize:
                release[c] = pseudonymize(release[c], self._key)
        if report is not None:
            report["dropped"] = list(self.drop or [])
            report["pseudonymized"] = list(self.pseudonymize or [])
            if self.pseudonymize:
                report["pseudonym_key"] = "given" if self.pseudonym_key is not None else "random, not stored"
        return release

    def transform(self, df: pd.DataFrame) -> pd.DataFrame:
        """Further rows generalized as the fitted release was (no suppression, no new classes)."""
        if not hasattr(self, "report_"):
            raise ConfigurationError("Call fit_transform before transform.")
        missing = [c for c in self.quasi_identifiers if c not in df.columns]
        if missing:
            raise ConfigurationError(f"Column(s) {', '.join(map(repr, missing))} not in the table.")
        if self.method == "optimal":
            out = df.copy()
            for c in self.quasi_identifiers:
                self.hierarchies[c].check_covers(df[c])
                out[c] = self.hierarchies[c].generalize(df[c], self.levels_[c])
        else:
            out = self.model_.transform(df)
        return self._direct_identifiers(out)


def read_table(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise ConfigurationError(f"No input file at {path}.")
    if path.suffix.lower() == ".parquet":
        return pd.read_parquet(path)
    if path.suffix.lower() == ".csv":
        # empty cells are missing values (NaN); "NA", "null" and the like stay codes
        return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], sep=None, engine="python")
    raise ConfigurationError(f"Unsupported input type {path.suffix!r}; use .csv or .parquet.")


def write_table_atomic(df: pd.DataFrame, path: str | Path) -> None:
    """Write CSV or Parquet by extension into a temporary file, then rename: no partial file."""
    path = Path(path)
    if path.suffix.lower() not in (".csv", ".parquet"):
        raise ConfigurationError(f"Unsupported output type {path.suffix!r}; use .csv or .parquet.")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(fd)
    try:
        if path.suffix.lower() == ".csv":
            df.to_csv(tmp, index=False)
        else:
            df.to_parquet(tmp, index=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(obj: Any, path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as f:
        json.dump(obj, f, indent=2)
    os.replace(tmp, path)
