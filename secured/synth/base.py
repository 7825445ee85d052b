"""The estimator API every generator shares.

``Gen(...).fit(df, discrete_columns=[...], identifiers=[...])`` learns the table (its
``Schema`` in ``schema_``, learned state in attributes ending in ``_``);
``sample(n, conditions=None, seed=None)`` returns ``n`` rows (``conditions`` a mapping
``{"col": value}`` for every row, or a DataFrame of partial rows, one generated row each,
missing cells free); every sample passes the schema check. ``save(path)`` writes JSON (never
pickle: a published generator is loaded by other members) and ``load(path)`` restores any
generator from it.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from ..exceptions import BadInputError, ConfigurationError, NotFittedError
from .schema import Schema, check_n, to_numbers

__all__ = ["Generator", "load", "loads", "dumps", "FORMAT"]

FORMAT = "secured-synth/1"
_REGISTRY: dict[str, type["Generator"]] = {}


class Generator:
    """Base class: subclasses implement ``_fit``, ``_sample``, ``_state``, ``_load_state``
    and ``get_params``."""

    name = "generator"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _REGISTRY[cls.name] = cls

    # -- the public API ---------------------------------------------------------------------------
    def fit(self, df: pd.DataFrame, discrete_columns: Sequence[str] | None = None,
            identifiers: Sequence[str] | None = None) -> "Generator":
        schema = Schema.infer(df, discrete_columns, identifiers)
        self._fit(df[schema.names].reset_index(drop=True), schema)
        self.schema_ = schema
        return self

    def sample(self, n: int | None = None, conditions: Mapping[str, Any] | pd.DataFrame | None = None,
               seed: int | None = None) -> pd.DataFrame:
        self._check_fitted()
        frame = self._conditions(n, conditions)
        n = len(frame) if frame is not None else check_n(n)
        rng = np.random.default_rng(self.seed + 1 if seed is None else seed)
        out = self._sample(n, frame, rng)
        out = out[self.schema_.names]
        self.schema_.validate_sample(out)
        return out

    def save(self, path: str) -> None:
        from ..io import write_json

        self._check_fitted()
        write_json(self._document(), path)

    def _document(self) -> dict[str, Any]:
        return {"format": FORMAT, "generator": self.name, "params": self.get_params(),
                "schema": self.schema_.to_dict(), "state": self._state()}

    def clone(self) -> "Generator":
        """An unfitted generator with the same parameters (and progress callback)."""
        gen = type(self)(**self.get_params())
        if hasattr(self, "progress"):
            gen.progress = self.progress
        return gen

    # -- helpers ----------------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "schema_"):
            raise NotFittedError(f"This {type(self).__name__} is not fitted yet; call fit first.")

    def _conditions(self, n: int | None, conditions: Any) -> pd.DataFrame | None:
        """Conditions as a DataFrame of partial rows, checked against the schema."""
        if conditions is None:
            return None
        if isinstance(conditions, Mapping):
            frame = pd.DataFrame({c: [v] * check_n(n) for c, v in conditions.items()})
        elif isinstance(conditions, pd.DataFrame):
            if n is not None and check_n(n) != len(conditions):
                raise ConfigurationError(f"With a DataFrame of conditions one row is generated per condition row "
                                         f"({len(conditions)}); leave n out or pass n={len(conditions)}.")
            if len(conditions) == 0:
                raise ConfigurationError("The conditions DataFrame is empty; give at least one partial row.")
            frame = conditions.reset_index(drop=True)
        else:
            raise ConfigurationError("Conditions are a mapping {'column': value} or a DataFrame of partial rows.")
        unknown = [c for c in frame.columns if c not in self.schema_.names]
        if unknown:
            raise BadInputError(f"Condition column(s) {', '.join(map(repr, unknown))} are not columns the "
                                "generator learned.")
        for c in frame.columns:
            spec, given = self.schema_[c], frame[c].dropna()
            if spec.kind == "categorical":
                if not given.isin(spec.categories).all():
                    raise BadInputError(f"A condition on column {c!r} asks for a category the training table did "
                                        "not have; use one of its categories.")
                continue
            try:
                numbers = to_numbers(given, spec.kind)
            except (ValueError, TypeError):
                raise BadInputError(f"A condition on column {c!r} is not a {spec.kind} value.") from None
            if len(numbers) and (numbers.min() < spec.low or numbers.max() > spec.high):
                raise BadInputError(f"A condition on column {c!r} lies outside the range seen in fit.")
            if spec.kind == "integer" and not np.all(numbers == np.round(numbers)):
                raise BadInputError(f"A condition on the integer column {c!r} is not a whole number.")
        return frame

    def _write_conditions(self, frame: pd.DataFrame, conditions: pd.DataFrame) -> pd.DataFrame:
        """The given cells written into generated rows, in the column's kind."""
        from .schema import from_numbers

        for c in conditions.columns:
            given = conditions[c].notna().to_numpy()
            if not given.any():
                continue
            spec = self.schema_[c]
            if spec.kind == "categorical":
                column = frame[c].astype(object).to_numpy().copy()
                column[given] = conditions.loc[given, c].to_numpy()
                frame[c] = pd.Series(column, dtype=object)
                continue
            numbers = np.array(to_numbers(frame[c], spec.kind), dtype=float)
            numbers[given] = to_numbers(conditions.loc[given, c], spec.kind)
            gone = frame[c].isna().to_numpy() & ~given
            series = from_numbers(np.where(gone, spec.low, numbers), spec)
            if gone.any():
                from ._tabular import mask_missing

                series = mask_missing(series, gone, spec.kind)
            frame[c] = series
        return frame

    # -- subclass hooks -----------------------------------------------------------------------------
    seed: int = 0

    def _fit(self, df: pd.DataFrame, schema: Schema) -> None:   # pragma: no cover - abstract
        raise NotImplementedError

    def _sample(self, n: int, conditions: pd.DataFrame | None, rng: np.random.Generator) -> pd.DataFrame:
        raise NotImplementedError   # pragma: no cover - abstract

    def _state(self) -> dict[str, Any]:   # pragma: no cover - abstract
        raise NotImplementedError

    def _load_state(self, state: dict[str, Any]) -> None:   # pragma: no cover - abstract
        raise NotImplementedError

    def get_params(self) -> dict[str, Any]:   # pragma: no cover - abstract
        raise NotImplementedError


def load(path: str) -> Generator:
    """A fitted generator from ``save``'s file."""
    from ..io import read_json

    return _restore(read_json(path, "generator file"))


def loads(data: bytes | str) -> Generator:
    """A fitted generator from the bytes of ``save``'s file (``dumps``' output)."""
    import json

    try:
        parsed = json.loads(data)
    except (ValueError, TypeError, UnicodeDecodeError):
        raise BadInputError("Not a generator file (not JSON).") from None
    return _restore(parsed)


def dumps(generator: Generator) -> bytes:
    """The bytes ``save`` writes (JSON), e.g. to publish a generator in the hub's registry."""
    import json

    generator._check_fitted()
    return json.dumps(generator._document(), allow_nan=False).encode("utf-8")


def _restore(data: Any) -> Generator:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise BadInputError(f"Not a generator file (expected format {FORMAT!r}).")
    cls = _REGISTRY.get(data.get("generator"))
    if cls is None:
        raise BadInputError("The generator file names a generator this version does not have.")
    try:
        gen = cls(**data["params"])
        gen.schema_ = Schema.from_dict(data["schema"])
        gen._load_state(data["state"])
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, RuntimeError):
        raise BadInputError("The generator file is malformed.") from None
    return gen
