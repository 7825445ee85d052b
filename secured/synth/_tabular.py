"""What the torch generators share: the table encoding, the device rule, seeded noise that is
the same on every device, the training loop's batching, and JSON weights (never pickle).

Encoding (``TableEncoder``): numeric, integer and date columns become standard normal scores
through a quantile grid of at most ``grid`` points (the saved model keeps the grid, never the
training values; ties of integers and repeated values are spread over their step of the CDF,
so discrete shares survive); a numeric column with missing cells gets a missing-indicator
feature; categorical columns become category codes, with a missing category when the column
had missing cells. ``decode`` inverts all of it.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np
import pandas as pd
from scipy import special

from ..exceptions import ConfigurationError
from .schema import MISSING, Schema, from_numbers, to_numbers

__all__ = ["TableEncoder", "Encoded", "resolve_device", "Noise", "weights_to_json", "weights_from_json",
           "check_positive_int", "check_layers", "batches"]

_EPS = 1e-6
_FLAG = "\x1fmissing"


def resolve_device(device: Any) -> str:
    """``"auto"``: CUDA when torch sees a GPU, else CPU; ``"cuda"`` without one is refused."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu":
        return "cpu"
    if isinstance(device, str) and (device == "cuda" or device.startswith("cuda:")):
        if not torch.cuda.is_available():
            raise ConfigurationError("device='cuda' was asked for but torch sees no CUDA GPU here; use "
                                     "device='auto' or 'cpu'.")
        return device
    raise ConfigurationError(f"The 'device' parameter must be 'auto', 'cpu' or 'cuda'. Got {device!r} instead.")


def check_positive_int(owner: str, name: str, value: Any, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ConfigurationError(f"The {name!r} parameter of {owner} must be an int >= {low}. Got {value!r} instead.")
    return int(value)


def check_real(owner: str, name: str, value: Any, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not np.isfinite(value) or not low <= float(value) <= high:
        raise ConfigurationError(f"The {name!r} parameter of {owner} must be a number in [{low}, {high}]. "
                                 f"Got {value!r} instead.")
    return float(value)


def check_layers(owner: str, value: Any) -> list[int]:
    if not isinstance(value, (list, tuple)) or not value or not all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) and 1 <= v <= 8192 for v in value):
        raise ConfigurationError(f"The 'layers' parameter of {owner} must be a non-empty list of layer widths "
                                 f"(ints in 1..8192). Got {value!r} instead.")
    return [int(v) for v in value]


class Noise:
    """Seeded random numbers drawn on the CPU and moved to the device, so a seed gives the
    same draws on CPU and GPU (the results then differ only by floating point). Always
    float32, whatever torch's default dtype is."""

    def __init__(self, seed: int, device: str) -> None:
        import torch

        self.device = device
        self.gen = torch.Generator().manual_seed(int(seed))

    def normal(self, *shape: int):
        import torch

        return torch.randn(*shape, generator=self.gen, dtype=torch.float32).to(self.device)

    def uniform(self, *shape: int):
        import torch

        return torch.rand(*shape, generator=self.gen, dtype=torch.float32).to(self.device)

    def integers(self, high: int, *shape: int):
        import torch

        return torch.randint(0, high, shape, generator=self.gen).to(self.device)


def batches(n: int, batch_size: int, iterations: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """``iterations`` batches of row indices: shuffled epochs, cut into ``batch_size`` pieces."""
    size = min(batch_size, n)
    order, at = rng.permutation(n), 0
    for _ in range(iterations):
        if at + size > n:
            order, at = rng.permutation(n), 0
        yield order[at:at + size]
        at += size


@dataclass
class Encoded:
    numeric: np.ndarray              # rows x numeric columns, standard normal scores
    categorical: np.ndarray          # rows x categorical features, category codes
    sizes: list[int]                 # categories per categorical feature


class TableEncoder:
    """Fit on a table and its schema; ``encode`` / ``decode`` (see the module docstring)."""

    def __init__(self, grid: int = 1024) -> None:
        self.grid = grid

    def fit(self, df: pd.DataFrame, schema: Schema) -> "TableEncoder":
        self.schema = schema
        self.numeric: list[str] = []
        self.categorical: list[str] = []
        self.quantiles: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.categories: dict[str, list[Any]] = {}
        for spec in schema.columns:
            if spec.kind == "categorical":
                self.categorical.append(spec.name)
                self.categories[spec.name] = list(spec.categories) + ([MISSING] if spec.missing else [])
                continue
            self.numeric.append(spec.name)
            xs = np.sort(to_numbers(df[spec.name].dropna(), spec.kind))
            probs = np.linspace(0, 1, min(self.grid, len(xs)))
            method = "linear" if spec.kind == "numeric" else "inverted_cdf"
            self.quantiles[spec.name] = (probs, np.quantile(xs, probs, method=method))
            if spec.missing:
                self.categorical.append(spec.name + _FLAG)
                self.categories[spec.name + _FLAG] = [False, True]
        return self

    @property
    def sizes(self) -> list[int]:
        return [len(self.categories[n]) for n in self.categorical]

    def encode(self, df: pd.DataFrame, rng: np.random.Generator) -> Encoded:
        num = np.zeros((len(df), len(self.numeric)))
        for j, name in enumerate(self.numeric):
            spec = self.schema[name]
            present = df[name].notna().to_numpy()
            x = np.zeros(len(df))
            x[present] = to_numbers(df[name][present], spec.kind)
            probs, q = self.quantiles[name]
            # a value's step of the grid's CDF; a draw inside it spreads ties (integers, repeats)
            below = np.interp(x, q, probs, left=0.0, right=1.0)
            lo_i = np.searchsorted(q, x, "left")
            hi_i = np.searchsorted(q, x, "right")
            tied = hi_i > lo_i
            lo_p = probs[np.clip(lo_i - 1, 0, len(probs) - 1)] * (lo_i > 0)
            hi_p = probs[np.clip(hi_i - 1, 0, len(probs) - 1)]
            u = np.where(tied, lo_p + rng.random(len(df)) * (hi_p - lo_p), below)
            u = np.where(present, u, rng.random(len(df)))
            num[:, j] = special.ndtri(np.clip(u, _EPS, 1 - _EPS))
        cat = np.zeros((len(df), len(self.categorical)), dtype=np.int64)
        for j, name in enumerate(self.categorical):
            if name.endswith(_FLAG):
                cat[:, j] = df[name[: -len(_FLAG)]].isna().to_numpy().astype(np.int64)
                continue
            values = df[name].astype(object).where(df[name].notna(), MISSING)
            cat[:, j] = pd.Index(self.categories[name], dtype=object).get_indexer(values)     # -1: unknown
        return Encoded(num, cat, self.sizes)

    def decode(self, num: np.ndarray, cat: np.ndarray) -> pd.DataFrame:
        out = {}
        index = {n: j for j, n in enumerate(self.categorical)}
        for spec in self.schema.columns:
            if spec.kind == "categorical":
                values = np.asarray(self.categories[spec.name], dtype=object)[cat[:, index[spec.name]]]
                out[spec.name] = pd.Series(values, dtype=object).where(values != MISSING, None)
                continue
            probs, q = self.quantiles[spec.name]
            u = special.ndtr(num[:, self.numeric.index(spec.name)])
            series = from_numbers(np.interp(u, probs, q), spec)
            if spec.missing:
                gone = cat[:, index[spec.name + _FLAG]] == 1
                series = mask_missing(series, gone, spec.kind)
            out[spec.name] = series.reset_index(drop=True)
        return pd.DataFrame(out)

    def to_dict(self) -> dict[str, Any]:
        return {"grid": self.grid, "numeric": self.numeric, "categorical": self.categorical,
                "quantiles": {k: [p.tolist(), q.tolist()] for k, (p, q) in self.quantiles.items()},
                "categories": self.categories}

    @classmethod
    def from_dict(cls, data: dict[str, Any], schema: Schema) -> "TableEncoder":
        enc = cls(int(data["grid"]))
        enc.schema = schema
        enc.numeric, enc.categorical = list(data["numeric"]), list(data["categorical"])
        enc.quantiles = {k: (np.asarray(p, dtype=float), np.asarray(q, dtype=float))
                         for k, (p, q) in data["quantiles"].items()}
        enc.categories = {k: list(v) for k, v in data["categories"].items()}
        return enc


def mask_missing(series: pd.Series, gone: np.ndarray, kind: str) -> pd.Series:
    """Cells of a generated numeric, integer or date column set missing where ``gone``."""
    if kind == "datetime":
        return series.where(~gone)
    if kind == "integer":
        return series.astype("Int64").mask(gone)
    return series.mask(gone)


def weights_to_json(module: Any) -> dict[str, Any]:
    """A torch module's tensors as base64 float32 (no pickle)."""
    return {name: {"shape": list(t.shape), "data": base64.b64encode(
        np.ascontiguousarray(t.detach().cpu().float().numpy()).tobytes()).decode("ascii")}
        for name, t in module.state_dict().items()}


def weights_from_json(module: Any, data: dict[str, Any]) -> None:
    import torch

    state = {}
    for name, entry in data.items():
        array = np.frombuffer(base64.b64decode(entry["data"]), dtype=np.float32).reshape(entry["shape"])
        state[name] = torch.from_numpy(array.copy())
    module.load_state_dict(state)
