"""scikit-learn-shaped anonymizer and the release writer behind ``secured anonymize``.

``Anonymizer(k=5, quasi_identifiers=[...], method="optimal"|"mondrian", ...)``: ``__init__``
stores, ``fit_transform(df)`` returns the release and fills ``report_`` with the achieved k
(and l, t when asked), the suppression and the discernibility, all recomputed on the release.
Optimal recoding needs a hierarchy per quasi-identifier; Mondrian needs one per categorical
quasi-identifier (numeric ones are listed in ``numeric``).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from ..exceptions import ConfigurationError
from .hierarchy import Hierarchy
from .lattice import apply_recoding, optimal_recoding
from .models import check_k_anonymity, check_l_diversity, check_t_closeness
from .mondrian import mondrian

__all__ = ["Anonymizer", "read_table", "write_table_atomic", "METHODS"]

METHODS = ("optimal", "mondrian")
L_VARIANTS = ("distinct", "entropy", "recursive")


class Anonymizer:
    def __init__(self, *, k: int, quasi_identifiers: list[str], method: str = "optimal",
                 hierarchies: dict[str, Hierarchy] | None = None, numeric: list[str] | None = None,
                 max_suppression: float = 0.0, id_column: str | None = None, sensitive: str | None = None,
                 l: float | None = None, l_variant: str = "distinct", c: float | None = None,
                 t: float | None = None) -> None:
        self.k, self.quasi_identifiers, self.method = k, quasi_identifiers, method
        self.hierarchies, self.numeric = hierarchies, numeric
        self.max_suppression, self.id_column, self.sensitive = max_suppression, id_column, sensitive
        self.l, self.l_variant, self.c, self.t = l, l_variant, c, t

    def _validate(self, df: pd.DataFrame) -> None:
        if not isinstance(df, pd.DataFrame):
            raise ConfigurationError(f"Anonymizer.fit_transform takes a pandas DataFrame; got {type(df).__name__}.")
        if len(df) == 0:
            raise ConfigurationError("The table is empty.")
        if self.method not in METHODS:
            raise ConfigurationError(f"The 'method' parameter of Anonymizer must be one of {', '.join(METHODS)}. "
                                     f"Got {self.method!r} instead.")
        if self.l_variant not in L_VARIANTS:
            raise ConfigurationError(f"The 'l_variant' parameter must be one of {', '.join(L_VARIANTS)}. "
                                     f"Got {self.l_variant!r} instead.")
        if not self.quasi_identifiers:
            raise ConfigurationError("Name at least one quasi-identifier.")
        cols = [*self.quasi_identifiers, *(c for c in (self.id_column, self.sensitive) if c)]
        missing = [c for c in cols if c not in df.columns]
        if missing:
            raise ConfigurationError(f"Column(s) {', '.join(map(repr, missing))} not in the table; "
                                     f"available: {', '.join(map(str, df.columns))}.")
        nan = [c for c in self.quasi_identifiers if df[c].isna().any()]
        if nan:
            raise ConfigurationError(f"Quasi-identifier(s) {', '.join(map(repr, nan))} have missing values (NaN); "
                                     "fill or drop them first.")
        if (self.l is not None or self.t is not None) and not self.sensitive:
            raise ConfigurationError("l-diversity and t-closeness need a sensitive column.")

    def fit_transform(self, df: pd.DataFrame) -> pd.DataFrame:
        self._validate(df)
        qis = list(self.quasi_identifiers)
        if self.method == "optimal":
            result = optimal_recoding(df, qis, self.hierarchies or {}, self.k, self.max_suppression, self.id_column)
            release = apply_recoding(df, qis, self.hierarchies, result.levels, self.k, self.id_column)
            details: dict[str, Any] = {"levels": result.levels, "nodes_checked": result.nodes_checked,
                                       "nodes_total": result.nodes_total}
        else:
            release, details = mondrian(df, qis, self.k, hierarchies=self.hierarchies, numeric=self.numeric,
                                        id_column=self.id_column)
        report: dict[str, Any] = {
            "method": self.method, "rows_in": int(len(df)), "rows_out": int(len(release)),
            "suppressed": int(len(df) - len(release)),
            "suppression_rate": float((len(df) - len(release)) / len(df)),
            "k_requested": self.k, "k": check_k_anonymity(release, qis, self.id_column),
            "discernibility": float((release.groupby(qis).size().astype(float) ** 2).sum()
                                    + (len(df) - len(release)) * len(df)),
            "quasi_identifiers": qis, **{f"search_{key}": v for key, v in details.items() if key != "discernibility"},
        }
        if self.sensitive:
            report["l_variant"] = self.l_variant
            report["l"] = check_l_diversity(release, qis, self.sensitive, self.l_variant, self.c)
            report["t"] = check_t_closeness(release, qis, self.sensitive)
            if self.l is not None and report["l"] < self.l:
                raise ConfigurationError(
                    f"The release reaches l = {report['l']:g} < {self.l:g} for {self.sensitive!r}; raise k, "
                    "use coarser hierarchies or allow more suppression.")
            if self.t is not None and report["t"] > self.t:
                raise ConfigurationError(
                    f"The release reaches t = {report['t']:.3f} > {self.t:g} for {self.sensitive!r}; raise k "
                    "or use coarser hierarchies.")
        self.report_ = report
        return release


def read_table(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise ConfigurationError(f"No input file at {path}.")
    if path.suffix.lower() == ".parquet":
        return pd.read_parquet(path)
    if path.suffix.lower() == ".csv":
        return pd.read_csv(path, dtype=str, keep_default_na=False, sep=None, engine="python")
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
