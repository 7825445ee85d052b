"""The table a generator learns: one ``ColumnSpec`` per column (kind, categories, bounds,
missing share), inferred from the training table, stored with the fitted generator and
checked on every sample (every category seen in fit, numeric bounds kept, integer columns
integral, dates within the seen range).

Kinds: ``numeric`` (floats), ``integer``, ``datetime`` (modelled as days since the epoch),
``categorical`` (anything else, and numbers named in ``discrete_columns``). A missing value is
modelled, not dropped: a categorical column gets a missing category, a numeric one a missing
indicator that the generator learns with the rest.

Refused, by column name and never by value: an empty table, a column that is all missing, and
an identifier-like column (a non-float column whose every value is distinct: a generator would
only learn to invent ids; drop it or pass ``identifiers=[...]`` to leave it out on purpose).
A constant column is kept and reproduced (``notes`` says so).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..exceptions import BadInputError, ConfigurationError

__all__ = ["ColumnSpec", "Schema", "MISSING", "typed"]

MISSING = "\x00missing"     # the category that stands for a missing cell while modelling
_EPOCH = pd.Timestamp("1970-01-01")


@dataclass
class ColumnSpec:
    name: str
    kind: str                                  # numeric | integer | datetime | categorical
    categories: list[Any] | None = None        # categorical: the values seen, most frequent first
    low: float | None = None                   # numeric, integer, datetime (days): the range seen
    high: float | None = None
    missing: float = 0.0                       # share of missing cells in the training table
    constant: bool = False


@dataclass
class Schema:
    columns: list[ColumnSpec]
    rows: int
    notes: list[str] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def __getitem__(self, name: str) -> ColumnSpec:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    @classmethod
    def infer(cls, df: Any, discrete_columns: Sequence[str] | None = None,
              identifiers: Sequence[str] | None = None) -> "Schema":
        if not isinstance(df, pd.DataFrame):
            raise BadInputError(f"A generator fits a pandas DataFrame; got {type(df).__name__}.")
        if len(df) == 0 or df.shape[1] == 0:
            raise BadInputError("The table is empty; a generator needs rows and columns to learn from.")
        discrete = list(discrete_columns or [])
        skip = list(identifiers or [])
        unknown = [c for c in [*discrete, *skip] if c not in df.columns]
        if unknown:
            raise BadInputError(f"Column(s) {', '.join(map(repr, unknown))} not in the table ({df.shape[1]} columns).")
        if len(set(map(str, df.columns))) != df.shape[1]:
            raise BadInputError("The table has repeated column names; give each column its own name.")
        specs, notes = [], []
        for name in df.columns:
            if name in skip:
                continue
            values = df[name]
            present = values.dropna()
            if len(present) == 0:
                raise BadInputError(f"Column {name!r} is all missing; drop it before fitting.")
            missing = float(values.isna().mean())
            kind = _kind(values, name in discrete)
            distinct = present.nunique()
            if kind in ("categorical", "integer") and distinct == len(df) and len(df) >= 20:
                raise BadInputError(f"Column {name!r} has a distinct value in every row (an identifier); drop it "
                                    "or pass it in identifiers=[...] to leave it out of the model.")
            spec = ColumnSpec(str(name), kind, missing=missing, constant=distinct == 1)
            if kind == "categorical":
                counts = present.value_counts(sort=True)
                spec.categories = [_plain(v) for v in counts.index]
            else:
                numbers = to_numbers(present, kind)
                spec.low, spec.high = float(numbers.min()), float(numbers.max())
            if spec.constant:
                notes.append(f"column {name!r} is constant; it is reproduced as it is")
            specs.append(spec)
        if not specs:
            raise BadInputError("Every column was left out; nothing to model.")
        return cls(specs, int(len(df)), notes)

    def check_frame(self, df: pd.DataFrame, what: str = "table") -> None:
        """The columns of a table to fit or compare are the schema's."""
        missing = [n for n in self.names if n not in df.columns]
        if missing:
            raise BadInputError(f"The {what} lacks column(s) {', '.join(map(repr, missing))}.")

    def validate_sample(self, df: pd.DataFrame) -> None:
        """The schema check on generated rows; a violation is a bug in a generator."""
        for spec in self.columns:
            values = df[spec.name]
            present = values.dropna()
            if spec.missing == 0 and len(present) != len(values):
                raise RuntimeError(f"generated column {spec.name!r} has missing cells the training table had not")
            if spec.kind == "categorical":
                if not present.isin(spec.categories).all():
                    raise RuntimeError(f"generated column {spec.name!r} has a category not seen in fit")
                continue
            numbers = to_numbers(present, spec.kind)
            if len(numbers) and (numbers.min() < spec.low - 1e-9 or numbers.max() > spec.high + 1e-9):
                raise RuntimeError(f"generated column {spec.name!r} leaves the range seen in fit")
            if spec.kind == "integer" and len(numbers) and not np.all(numbers == np.round(numbers)):
                raise RuntimeError(f"generated integer column {spec.name!r} has fractions")

    def to_dict(self) -> dict[str, Any]:
        return {"columns": [asdict(c) for c in self.columns], "rows": self.rows, "notes": list(self.notes)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Schema":
        try:
            return cls([ColumnSpec(**c) for c in data["columns"]], int(data["rows"]), list(data.get("notes", [])))
        except (KeyError, TypeError):
            raise BadInputError("The saved schema is malformed.") from None


def _plain(value: Any) -> Any:
    """A JSON-ready scalar (numpy scalars become Python ones)."""
    return value.item() if isinstance(value, np.generic) else value


def _kind(values: pd.Series, discrete: bool) -> str:
    if discrete or pd.api.types.is_bool_dtype(values):
        return "categorical"
    if pd.api.types.is_datetime64_any_dtype(values):
        return "datetime"
    if pd.api.types.is_integer_dtype(values):
        return "integer"
    if pd.api.types.is_float_dtype(values):
        present = values.dropna()
        return "integer" if len(present) and np.all(present == np.round(present)) else "numeric"
    return "categorical"


def to_numbers(values: pd.Series, kind: str) -> np.ndarray:
    """Numeric view of a column (dates as days since the epoch)."""
    if kind == "datetime":
        return ((pd.to_datetime(values) - _EPOCH) / pd.Timedelta(days=1)).to_numpy(dtype=float)
    return pd.to_numeric(values).to_numpy(dtype=float)


def from_numbers(numbers: np.ndarray, spec: ColumnSpec) -> pd.Series:
    """Generated numbers back to the column's kind, clipped to the range seen in fit."""
    x = np.clip(numbers, spec.low, spec.high)
    if spec.kind == "integer":
        return pd.Series(np.round(x), dtype="Int64" if spec.missing else "int64")
    if spec.kind == "datetime":
        return pd.Series(_EPOCH + pd.to_timedelta(np.round(x), unit="D"))
    return pd.Series(x, dtype=float)


def check_n(n: Any) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n <= 0:
        raise ConfigurationError(f"The number of rows to sample must be a positive int. Got {n!r} instead.")
    return int(n)


def typed(df: pd.DataFrame, *, discrete: Sequence[str] = (), dates: Sequence[str] = ()) -> pd.DataFrame:
    """Numbers and dates out of a table read as text (CSV cells, the bundled datasets).

    A column whose every present cell is a number becomes numeric, unless ``discrete`` names
    it; ``dates`` names the date columns (parsed, a cell that does not parse is an error
    naming the column). Other columns are left as they are.
    """
    if not isinstance(df, pd.DataFrame):
        raise BadInputError(f"typed takes a pandas DataFrame; got {type(df).__name__}.")
    unknown = [c for c in [*discrete, *dates] if c not in df.columns]
    if unknown:
        raise BadInputError(f"Column(s) {', '.join(map(repr, unknown))} not in the table ({df.shape[1]} columns).")
    out = df.copy()
    for c in df.columns:
        if c in discrete:
            continue
        if c in dates:
            parsed = pd.to_datetime(df[c], errors="coerce", format="mixed")
            if (parsed.isna() & df[c].notna()).any():
                raise BadInputError(f"The date column {c!r} has cells that do not parse as dates.")
            out[c] = parsed
            continue
        if pd.api.types.is_numeric_dtype(df[c]) or pd.api.types.is_datetime64_any_dtype(df[c]):
            continue
        numbers = pd.to_numeric(df[c], errors="coerce")
        if df[c].notna().any() and not (numbers.isna() & df[c].notna()).any():
            out[c] = numbers
    return out
