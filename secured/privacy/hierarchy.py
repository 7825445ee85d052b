"""Generalization hierarchies: level 0 is the original value, the last level is '*'.

Read from ARX's CSV format (one row per original value, one column per level, ';'
separated) or built from the values: numeric intervals of equal width or at quantiles,
ordered categories merged in runs, code prefixes (ZIP codes), ICD-9-CM codes (code ->
three-character category -> chapter), and dates (day -> month -> year -> decade). Every
value of a column must be covered; an uncovered value is an error naming the column (never
the value). ``Hierarchy.from_spec`` reads the short specs the CLI takes
(``icd9``, ``prefix:3,1``, ``intervals:5,10,20``, ``quantiles:8,4,2``, ``ordered:2,5``,
``dates`` or a path to an ARX CSV).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import re

import numpy as np
import pandas as pd

from ..exceptions import ConfigurationError

__all__ = ["Hierarchy", "format_number", "auto_hierarchy"]


class Hierarchy:
    """A column's generalization levels: ``table[value][level]`` as a DataFrame indexed by the
    original value (strings), columns 0..height-1."""

    def __init__(self, column: str, table: pd.DataFrame) -> None:
        if table.shape[1] < 1 or table.index.has_duplicates:
            raise ConfigurationError(f"The hierarchy of {column!r} needs unique original values.")
        self.column = column
        self.table = table.astype(str)
        self.table.columns = range(table.shape[1])

    def to_dict(self) -> dict[str, Any]:
        """The table as JSON-ready lists (it holds the column's values: keep it with the data)."""
        return {"column": self.column, "levels": [self.table[level].tolist() for level in range(self.height)],
                "keys": self.table.index.tolist()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Hierarchy":
        try:
            table = pd.DataFrame({i: list(level) for i, level in enumerate(d["levels"])}, index=list(d["keys"]))
            return cls(str(d["column"]), table)
        except (KeyError, TypeError, ValueError):
            raise ConfigurationError("A stored hierarchy is malformed (needs column, keys and levels).") from None

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
        vals = pd.Series(np.unique(_numeric(column, values)))
        if not widths or any(w <= 0 for w in widths) or any(
                abs(b / a - round(b / a)) > 1e-9 for a, b in zip(widths, widths[1:])):
            raise ConfigurationError(f"Interval widths for {column!r} must be positive and each a multiple of the "
                                     "previous one (e.g. 5,10,20) so the levels nest.")
        cols = [vals.map(_fmt)]
        for w in widths:
            lo = np.floor(vals / w) * w
            cols.append(pd.Series([f"[{_fmt(a)}, {_fmt(a + w)})" for a in lo]))
        cols.append(pd.Series(["*"] * len(vals)))
        return cls(column, pd.concat(cols, axis=1).set_axis(vals.map(_fmt).to_numpy(), axis=0))

    @classmethod
    def from_quantiles(cls, column: str, values: Any, bins: list[int]) -> "Hierarchy":
        """Numeric values grouped into ``bins[0]`` quantile intervals, then ``bins[1]``... (each
        count must divide the previous one so the levels nest)."""
        v = _numeric(column, values)
        if not bins or any(b < 2 for b in bins) or any(a % b for a, b in zip(bins, bins[1:])):
            raise ConfigurationError(f"Quantile bins for {column!r} must be >= 2 and each divide the previous "
                                     "(e.g. 8,4,2).")
        vals = np.unique(v)
        cols = [pd.Series(vals).map(_fmt)]
        finest = np.quantile(v, np.linspace(0, 1, bins[0] + 1))
        for b in bins:
            edges = np.unique(finest[:: bins[0] // b])
            idx = np.clip(np.searchsorted(edges, vals, side="right") - 1, 0, len(edges) - 2)
            lo, hi = edges[idx], edges[idx + 1]
            closing = np.where(idx == len(edges) - 2, "]", ")")
            cols.append(pd.Series([f"[{_fmt(a)}, {_fmt(z)}{c}" for a, z, c in zip(lo, hi, closing)]))
        cols.append(pd.Series(["*"] * len(vals)))
        return cls(column, pd.concat(cols, axis=1).set_axis(cols[0].to_numpy(), axis=0))

    @classmethod
    def from_ordered(cls, column: str, values: Any, group_sizes: list[int], order: list[str] | None = None
                     ) -> "Hierarchy":
        """Ordered categories merged in runs of ``group_sizes[0]`` neighbours, then runs of
        ``group_sizes[1]`` of those, ... The order is ``order`` or the natural order (numbers
        inside the labels compared as numbers). Runs of interval labels such as '[10-20)',
        '[20-30)' are named '[10-30)'; other runs list their members, '{Female, Male}', so a
        label never reads as a range that would include values outside the run."""
        present = pd.unique(pd.Series(values).astype(str))
        if order is None:
            order = sorted(present, key=_natural_key)
        else:
            order = [str(o) for o in order]
            if set(present) - set(order):
                raise ConfigurationError(f"The order given for {column!r} misses some of its values.")
        if not group_sizes or any(g < 2 for g in group_sizes):
            raise ConfigurationError(f"Group sizes for {column!r} must be integers >= 2 (e.g. 2,5).")
        cols = [pd.Series(order)]
        groups = [[o] for o in order]
        for g in group_sizes:
            groups = [sum(groups[i:i + g], []) for i in range(0, len(groups), g)]
            label = {leaf: _run_label(run) for run in groups for leaf in run}
            cols.append(pd.Series([label[o] for o in order]))
        cols.append(pd.Series(["*"] * len(order)))
        return cls(column, pd.concat(cols, axis=1).set_axis(order, axis=0))

    @classmethod
    def icd9(cls, column: str, values: Any) -> "Hierarchy":
        """ICD-9-CM codes: code ('250.83') -> category ('250') -> chapter ('240-279') -> '*'.
        V and E codes form their own chapters; anything else (e.g. a '?' for missing) stays as
        it is up to the chapter level."""
        vals = pd.Series(pd.unique(pd.Series(values).astype(str)))
        category = vals.str.split(".").str[0]
        chapter = category.map(_icd9_chapter)
        cols = [vals, category, chapter, pd.Series(["*"] * len(vals))]
        return cls(column, pd.concat(cols, axis=1).set_axis(vals.to_numpy(), axis=0))

    @classmethod
    def icd10(cls, column: str, values: Any) -> "Hierarchy":
        """ICD-10 codes: code ('E11.65') -> category ('E11') -> chapter ('E00-E90') -> '*'.
        Anything that is not a code stays as it is up to the chapter level."""
        vals = pd.Series(pd.unique(pd.Series(values).astype(str)))
        coded = vals.str.match(r"^[A-Za-z]\d[0-9A-Za-z]")
        category = vals.str.replace(".", "", regex=False).str[:3].str.upper().where(coded, vals)
        chapter = category.map(_icd10_chapter)
        cols = [vals, category, chapter, pd.Series(["*"] * len(vals))]
        return cls(column, pd.concat(cols, axis=1).set_axis(vals.to_numpy(), axis=0))

    @classmethod
    def from_dates(cls, column: str, values: Any) -> "Hierarchy":
        """Dates: day -> month ('2019-03') -> year -> decade ('2010s') -> '*'."""
        vals = pd.Series(pd.unique(pd.Series(values).astype(str)))
        parsed = pd.to_datetime(vals, errors="coerce", format="mixed")
        if parsed.isna().any():
            raise ConfigurationError(f"Column {column!r} has {int(parsed.isna().sum())} value(s) that are not dates.")
        cols = [vals, parsed.dt.strftime("%Y-%m"), parsed.dt.strftime("%Y"),
                (parsed.dt.year // 10 * 10).astype(str) + "s", pd.Series(["*"] * len(vals))]
        return cls(column, pd.concat(cols, axis=1).set_axis(vals.to_numpy(), axis=0))

    @classmethod
    def from_spec(cls, column: str, spec: str, values: Any) -> "Hierarchy":
        """A hierarchy from a CLI spec: a path to an ARX CSV, or one of ``icd9``, ``dates``, ``flat``
        (value -> '*'),
        ``prefix:L1,L2``, ``intervals:W1,W2``, ``quantiles:B1,B2``, ``ordered:G1,G2``."""
        name, _, arg = spec.partition(":")
        builders = {"prefix": cls.from_prefix, "intervals": cls.from_intervals,
                    "quantiles": cls.from_quantiles, "ordered": cls.from_ordered}
        if name in ("icd9", "icd10", "dates", "flat") and not arg:
            if name == "flat":
                return cls.from_prefix(column, values, [])
            return {"icd9": cls.icd9, "icd10": cls.icd10, "dates": cls.from_dates}[name](column, values)
        if name in builders:
            try:
                numbers = [float(a) if name == "intervals" else int(a) for a in arg.split(",") if a.strip()]
            except ValueError:
                numbers = []
            if not numbers:
                raise ConfigurationError(f"Hierarchy spec {name!r} for {column!r} needs comma-separated numbers, "
                                         f"e.g. {name}:{'5,10,20' if name == 'intervals' else '3,1' if name == 'prefix' else '4,2'}.")
            return builders[name](column, values, numbers)
        if Path(spec).is_file():
            return cls.from_arx_csv(column, spec)
        raise ConfigurationError(
            f"Hierarchy for {column!r}: no file at {spec!r} and not a builder spec; use a path to an ARX CSV or "
            "icd9, icd10, dates, flat, prefix:3,1, intervals:5,10,20, quantiles:8,4,2, ordered:2,5.")

    def keys(self, values: pd.Series) -> pd.Series:
        """``values`` as the hierarchy's keys (text). Numbers match by value, so a column read as
        floats (67.0) finds the key '67' of a hierarchy built from its numbers, and the reverse;
        values with no key come back unchanged (``check_covers`` reports them)."""
        values = pd.Series(values)
        keys = pd.Series(values.astype(str).to_numpy(dtype=object), index=values.index)
        missing = ~keys.isin(self.table.index).to_numpy()
        if missing.any():
            if not hasattr(self, "_by_number"):
                index = pd.Series(self.table.index, dtype=object)
                numbers = pd.to_numeric(index, errors="coerce")
                ok = numbers.notna().to_numpy()
                self._by_number = dict(zip(numbers[ok].map(format_number), index[ok]))
            if self._by_number:
                numbers = pd.to_numeric(values[missing], errors="coerce")
                found = numbers.dropna().map(format_number).map(self._by_number).dropna()
                keys.loc[found.index] = found.to_numpy()
        return keys

    def check_covers(self, values: pd.Series, column: str | None = None) -> pd.Series:
        """``values`` as the hierarchy's keys (text); an error naming the column (never a value)
        when some are not in the hierarchy. ``column`` names the column the values come from
        when the hierarchy serves several (item columns share one)."""
        keys = self.keys(values)
        missing = ~keys.isin(self.table.index)
        if missing.any():
            where = f"column {self.column!r}" if column is None or column == self.column else \
                f"column {column!r} (hierarchy {self.column!r})"
            raise ConfigurationError(
                f"The hierarchy of {where} does not cover {int(missing.sum())} of its "
                f"values; add them to the hierarchy or clean the column.")
        return keys

    def codes(self, values: pd.Series) -> list[np.ndarray]:
        """Per level, integer codes of the generalized values of ``values`` (for fast grouping)."""
        keys = self.check_covers(values)
        rows = self.table.index.get_indexer(keys)
        out = []
        for level in range(self.height):
            labels, inverse = np.unique(self.table[level].to_numpy(), return_inverse=True)
            out.append(inverse[rows].astype(np.int64))
        return out

    def generalize(self, values: pd.Series, level: int) -> pd.Series:
        return self.keys(values).map(self.table[level])


def auto_hierarchy(column: str, values: Any) -> tuple["Hierarchy", str, bool]:
    """A hierarchy for a quasi-identifier given without one: (hierarchy, spec, numeric).

    Numbers with more than 16 distinct values get nested quantile intervals (16, 8, 4 and 2
    bins; Mondrian cuts them as numbers: ``numeric`` is True). Other columns are merged in runs
    of 2, then 4: numbers and interval labels in their natural order; nominal values ordered by
    frequency, so that rare values merge with each other first, and labelled by their members.
    """
    values = pd.Series(values)
    numbers = pd.to_numeric(values, errors="coerce")
    if numbers.notna().all() and numbers.nunique() > 16:
        return Hierarchy.from_quantiles(column, numbers, [16, 8, 4, 2]), "quantiles:16,8,4,2", True
    text = values.astype(str)
    ordinal = numbers.notna().all() or text.map(lambda v: bool(_INTERVAL.match(v))).all()
    if ordinal:
        return Hierarchy.from_ordered(column, text, [2, 4]), "ordered:2,4", False
    counts = text.value_counts(sort=False)
    order = sorted(counts.index, key=lambda v: (-int(counts[v]), _natural_key(v)))
    return Hierarchy.from_ordered(column, text, [2, 4], order=order), "by-frequency:2,4", False


def format_number(v: float) -> str:
    """A number as the shortest text that reads back as the same float, never in scientific
    notation ('67', '51.220400557', '2220510'), so released labels contain their values exactly."""
    v = float(v)
    if v.is_integer() and abs(v) < 2**63:
        return str(int(v))
    return np.format_float_positional(v, trim="-")


_fmt = format_number


def _numeric(column: str, values: Any) -> np.ndarray:
    v = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float)
    if np.isnan(v).any():
        raise ConfigurationError(f"Column {column!r} has {int(np.isnan(v).sum())} missing or non-numeric value(s); "
                                 "a numeric hierarchy needs numbers.")
    return v


def _natural_key(text: str) -> list:
    return [(0, float(part), "") if re.fullmatch(r"\d+(\.\d+)?", part) else (1, 0.0, part)
            for part in re.findall(r"\d+(?:\.\d+)?|\D+", text)]


_INTERVAL = re.compile(r"^([\[(])\s*(-?[\d.]+)\s*[-,]\s*(-?[\d.]+)\s*([\])])$")


def _run_label(run: list[str]) -> str:
    if len(run) == 1:
        return run[0]
    first, last = _INTERVAL.match(run[0]), _INTERVAL.match(run[-1])
    if first and last:
        sep = "-" if "-" in run[0][1:] and "," not in run[0] else ", "
        return f"{first.group(1)}{first.group(2)}{sep}{last.group(3)}{last.group(4)}"
    return "{" + ", ".join(run) + "}"


# ICD-9-CM chapters (first and last three-digit category of each).
_ICD9_CHAPTERS = [(1, 139), (140, 239), (240, 279), (280, 289), (290, 319), (320, 389), (390, 459), (460, 519),
                  (520, 579), (580, 629), (630, 679), (680, 709), (710, 739), (740, 759), (760, 779), (780, 799),
                  (800, 999)]


def _icd9_chapter(category: str) -> str:
    if category[:1] in ("V", "E") and category[1:].isdigit():
        return "V01-V91" if category[0] == "V" else "E000-E999"
    if category.isdigit():
        number = int(category)
        for lo, hi in _ICD9_CHAPTERS:
            if lo <= number <= hi:
                return f"{lo:03d}-{hi:03d}"
    return category


# ICD-10 (WHO) chapters as category ranges.
_ICD10_CATEGORY = re.compile(r"^[A-Z]\d[0-9A-Z]$")
# ICD-10 chapters, widened where ICD-10-CM (the US clinical modification) extends WHO's
# ranges (neoplasms to D49, external causes V00-Y99), so that a code of either edition falls in
# its chapter; a well-formed code in no range (a gap such as D90-D99) gets its letter's block.
_ICD10_CHAPTERS = [("A00", "B99"), ("C00", "D49"), ("D50", "D89"), ("E00", "E90"), ("F00", "F99"), ("G00", "G99"),
                   ("H00", "H59"), ("H60", "H95"), ("I00", "I99"), ("J00", "J99"), ("K00", "K95"), ("L00", "L99"),
                   ("M00", "M99"), ("N00", "N99"), ("O00", "O9A"), ("P00", "P96"), ("Q00", "Q99"), ("R00", "R99"),
                   ("S00", "T98"), ("V00", "Y99"), ("Z00", "Z99"), ("U00", "U99")]


def _icd10_chapter(category: str) -> str:
    """The chapter of a 3-character category (letter, digit, digit or letter: ICD-10-CM has
    categories such as 'O9A'); categories compare as text, so 'O9A' sorts after 'O99'."""
    code = category[:3].upper()
    if not _ICD10_CATEGORY.match(code):
        return category
    for lo, hi in _ICD10_CHAPTERS:
        if lo <= code <= hi:
            return f"{lo}-{hi}"
    return f"{code[0]}00-{code[0]}99"
