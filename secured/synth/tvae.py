"""A conditional variational autoencoder for tables, in the TVAE / CTGAN line (Xu et al.,
NeurIPS 2019): mode-specific normalization of numbers, conditional vectors for categories and
training by sampling.

- Mode-specific normalization: each numeric, integer or date column gets a variational
  Gaussian mixture (scikit-learn's ``BayesianGaussianMixture``, a Dirichlet-process prior, at
  most ``modes`` components, those with weight below 0.5 % dropped). A value is represented by
  the one-hot of a mode drawn from its posterior and its offset inside that mode,
  (x - mean) / (4 sd) clipped to (-1, 1). A missing numeric cell is a missing-indicator
  category; a missing categorical cell is a category of its own.
- Conditional vector and training by sampling: every training row is drawn by picking a
  categorical column uniformly, a category with probability proportional to the log of its
  frequency, then a row holding it; the encoder and the decoder both see the one-hot of that
  (column, category), so rare categories are learned as well as common ones.
- Loss: cross-entropy of every mode and category, a Gaussian likelihood of the offsets with a
  learned scale per column, and the KL divergence of the latent code (TVAE's weighting).
- Sampling: a condition (column, category) is drawn from the training marginal of a column
  picked uniformly, a latent code from N(0, I); the decoder's categories are drawn from its
  softmax and the offsets get their learned noise. A condition on a categorical column sets
  the conditional vector; further conditions are met by redrawing rows that miss them (up to
  ``condition_rounds`` times), then written into the rows that still miss them.

The saved model holds mixture parameters and weights, not rows. ``device`` as in
``secured.synth.diffusion``.

>>> from secured.data import load
>>> from secured.synth import typed
>>> df = typed(load("adult").head(1000))
>>> gen = TVAE(iterations=30, seed=0).fit(df)
>>> bool((gen.sample(100, conditions={"sex": "Female"}, seed=1)["sex"] == "Female").all())
True
"""

from __future__ import annotations

import time
import warnings
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..progress import Progress, emit
from ._tabular import (Noise, batches, check_layers, check_positive_int, check_real, mask_missing, resolve_device,
                       weights_from_json, weights_to_json)
from .base import Generator
from .schema import MISSING, Schema, from_numbers, to_numbers

__all__ = ["TVAE"]

_FLAG = "\x1fmissing"


class _Modes:
    """The mode-specific normalization of one numeric column."""

    def __init__(self, means: np.ndarray, sds: np.ndarray, weights: np.ndarray) -> None:
        self.means, self.sds, self.weights = means, sds, weights

    @classmethod
    def fit(cls, x: np.ndarray, modes: int, seed: int) -> "_Modes":
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.mixture import BayesianGaussianMixture

        rng = np.random.default_rng(seed)
        sample = x if len(x) <= 20_000 else rng.choice(x, 20_000, replace=False)
        distinct = np.unique(sample)
        if len(distinct) == 1:
            return cls(distinct.astype(float), np.array([1.0]), np.array([1.0]))
        scale = float(sample.std()) or 1.0
        gmm = BayesianGaussianMixture(n_components=min(modes, len(distinct)), weight_concentration_prior_type=
                                      "dirichlet_process", weight_concentration_prior=0.001, max_iter=100,
                                      n_init=1, random_state=seed, reg_covar=1e-6 * scale ** 2)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            gmm.fit(sample.reshape(-1, 1))
        keep = gmm.weights_ > 0.005
        means = gmm.means_[keep, 0]
        sds = np.sqrt(gmm.covariances_[keep].reshape(-1))
        weights = gmm.weights_[keep] / gmm.weights_[keep].sum()
        return cls(means, np.maximum(sds, 1e-3 * scale), weights)

    def encode(self, x: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(offset in (-1, 1), mode index) per value, the mode drawn from its posterior."""
        logp = (np.log(self.weights)[None] - np.log(self.sds)[None]
                - 0.5 * ((x[:, None] - self.means[None]) / self.sds[None]) ** 2)
        post = np.exp(logp - logp.max(1, keepdims=True))
        post /= post.sum(1, keepdims=True)
        mode = (post.cumsum(1) < rng.random((len(x), 1))).sum(1).clip(max=len(self.means) - 1)
        offset = np.clip((x - self.means[mode]) / (4 * self.sds[mode]), -0.99, 0.99)
        return offset, mode

    def decode(self, offset: np.ndarray, mode: np.ndarray) -> np.ndarray:
        return offset * 4 * self.sds[mode] + self.means[mode]

    def to_dict(self) -> dict[str, list[float]]:
        return {"means": self.means.tolist(), "sds": self.sds.tolist(), "weights": self.weights.tolist()}

    @classmethod
    def from_dict(cls, d: dict[str, list[float]]) -> "_Modes":
        return cls(np.asarray(d["means"], float), np.asarray(d["sds"], float), np.asarray(d["weights"], float))


def _build(d_data: int, d_cond: int, d_offsets: int, compress: Sequence[int], latent: int):
    import torch
    from torch import nn

    def mlp(d_in: int, widths: Sequence[int]) -> tuple[nn.Sequential, int]:
        parts, width = [], d_in
        for w in widths:
            parts += [nn.Linear(width, w), nn.ReLU()]
            width = w
        return nn.Sequential(*parts), width

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.enc, w = mlp(d_data + d_cond, compress)
            self.mu, self.logvar = nn.Linear(w, latent), nn.Linear(w, latent)
            self.dec, w = mlp(latent + d_cond, list(reversed(compress)))
            self.out = nn.Linear(w, d_data)
            self.log_sigma = nn.Parameter(torch.full((max(d_offsets, 1),), float(np.log(0.1))))

        def encode(self, x, c):
            h = self.enc(torch.cat([x, c], 1))
            return self.mu(h), self.logvar(h)

        def decode(self, z, c):
            return self.out(self.dec(torch.cat([z, c], 1)))

    return Net().float()                 # float32 whatever torch's default dtype is


class TVAE(Generator):
    """Conditional tabular VAE; see the module docstring.

    Parameters: ``iterations`` of ``batch_size`` rows, Adam at ``lr`` with ``weight_decay``,
    hidden ``layers`` of the encoder (mirrored by the decoder), ``latent`` size, at most
    ``modes`` mixture components per numeric column, ``loss_factor`` on the reconstruction,
    ``condition_rounds`` for conditions beyond the first, ``device``, ``seed``, ``progress``.
    """

    name = "tvae"

    def __init__(self, *, iterations: int = 3000, batch_size: int = 500, lr: float = 1e-3, weight_decay: float = 1e-5,
                 layers: Sequence[int] = (256, 256), latent: int = 128, modes: int = 10, loss_factor: float = 2.0,
                 condition_rounds: int = 20, device: str = "auto", seed: int = 0,
                 progress: Progress | None = None) -> None:
        self.iterations, self.batch_size, self.lr, self.weight_decay = iterations, batch_size, lr, weight_decay
        self.layers, self.latent, self.modes, self.loss_factor = layers, latent, modes, loss_factor
        self.condition_rounds, self.device, self.seed, self.progress = condition_rounds, device, seed, progress

    def get_params(self) -> dict[str, Any]:
        return {"iterations": self.iterations, "batch_size": self.batch_size, "lr": self.lr,
                "weight_decay": self.weight_decay, "layers": list(self.layers), "latent": self.latent,
                "modes": self.modes, "loss_factor": self.loss_factor, "condition_rounds": self.condition_rounds,
                "device": self.device, "seed": self.seed}

    def _validate_params(self) -> None:
        owner = "TVAE"
        for name in ("iterations", "batch_size", "latent", "modes"):
            check_positive_int(owner, name, getattr(self, name))
        check_positive_int(owner, "condition_rounds", self.condition_rounds, 0)
        check_real(owner, "lr", self.lr, 1e-7, 1.0)
        check_real(owner, "weight_decay", self.weight_decay, 0.0, 1.0)
        check_real(owner, "loss_factor", self.loss_factor, 1e-3, 1e3)
        check_layers(owner, self.layers)

    # -- the representation ------------------------------------------------------------------------
    def _layout(self) -> None:
        """Feature groups: (kind, name, width) in the order of the data vector."""
        self.groups_: list[tuple[str, str, int]] = []
        for spec in self.schema_.columns:
            if spec.kind == "categorical":
                self.groups_.append(("category", spec.name, len(self.categories_[spec.name])))
            else:
                self.groups_.append(("offset", spec.name, 1))
                self.groups_.append(("mode", spec.name, len(self.modes_[spec.name].means)))
                if spec.missing:
                    self.groups_.append(("category", spec.name + _FLAG, 2))
        self.cond_columns_ = [s.name for s in self.schema_.columns if s.kind == "categorical"]

    def _codes(self, df: pd.DataFrame) -> dict[str, np.ndarray]:
        out = {}
        for spec in self.schema_.columns:
            if spec.kind == "categorical":
                values = df[spec.name].astype(object).where(df[spec.name].notna(), MISSING)
                out[spec.name] = pd.Index(self.categories_[spec.name], dtype=object).get_indexer(values).astype(np.int64)
            elif spec.missing:
                out[spec.name + _FLAG] = df[spec.name].isna().to_numpy().astype(np.int64)
        return out

    def _represent(self, df: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
        codes = self._codes(df)
        modes: dict[str, np.ndarray] = {}
        parts = []
        for kind, name, width in self.groups_:
            if kind == "category":
                parts.append(np.eye(width)[codes[name]])
            elif kind == "offset":
                spec = self.schema_[name]
                present = df[name].notna().to_numpy()
                x = np.zeros(len(df))
                x[present] = to_numbers(df[name][present], spec.kind)
                fill = self.modes_[name].means[np.argmax(self.modes_[name].weights)]
                offset, modes[name] = self.modes_[name].encode(np.where(present, x, fill), rng)
                parts.append(offset[:, None])
            else:
                parts.append(np.eye(width)[modes[name]])
        return np.hstack(parts).astype(np.float32)

    # -- fitting -----------------------------------------------------------------------------------
    def _fit(self, df: pd.DataFrame, schema: Schema) -> None:
        import torch
        import torch.nn.functional as F

        self._validate_params()
        device = resolve_device(self.device)
        rng = np.random.default_rng(self.seed)
        torch.manual_seed(self.seed)
        self.schema_ = schema
        self.categories_ = {s.name: list(s.categories) + ([MISSING] if s.missing else [])
                            for s in schema.columns if s.kind == "categorical"}
        self.modes_ = {}
        for i, spec in enumerate(schema.columns):
            if spec.kind != "categorical":
                emit(self.progress, "tvae: mode-specific normalization", i, len(schema.columns))
                self.modes_[spec.name] = _Modes.fit(to_numbers(df[spec.name].dropna(), spec.kind), self.modes,
                                                    self.seed + i)
        self._layout()
        data = torch.tensor(self._represent(df, rng), device=device)
        codes = self._codes(df)
        self.cond_freq_ = {c: np.bincount(codes[c], minlength=len(self.categories_[c])).tolist()
                           for c in self.cond_columns_}
        offsets = sum(1 for g in self.groups_ if g[0] == "offset")
        net = _build(data.shape[1], self._cond_width(), offsets, self.layers, self.latent).to(device)
        opt = torch.optim.Adam(net.parameters(), lr=self.lr, weight_decay=self.weight_decay, foreach=True)
        pools = {c: [np.flatnonzero(codes[c] == k) for k in range(len(self.categories_[c]))]
                 for c in self.cond_columns_}
        noise = Noise(self.seed, device)
        start, self.loss_ = time.perf_counter(), []
        net.train()
        for step, rows in enumerate(batches(len(df), self.batch_size, self.iterations, rng), 1):
            cond_np, rows = self._training_conditions(len(rows), pools, rng, rows)
            x = data[torch.as_tensor(rows, device=device)]
            c = torch.as_tensor(cond_np, device=device)
            mu, logvar = net.encode(x, c)
            z = mu + noise.normal(*mu.shape) * torch.exp(0.5 * logvar)
            out = net.decode(z, c)
            rec = self._reconstruction(out, x, net.log_sigma, F)
            kl = -0.5 * torch.sum(1 + logvar - mu ** 2 - logvar.exp()) / x.shape[0]
            loss = self.loss_factor * rec + kl
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            with torch.no_grad():
                net.log_sigma.clamp_(np.log(0.01), np.log(1.0))
            if step % 50 == 0 or step == self.iterations:
                self.loss_.append(float(loss.detach()))
                emit(self.progress, "tvae: training steps", step, self.iterations)
        self.fit_seconds_ = time.perf_counter() - start
        net.eval()
        self.model_ = net

    def _cond_width(self) -> int:
        return int(sum(len(self.categories_[c]) for c in self.cond_columns_))

    def _cond_offset(self, column: str) -> int:
        at = 0
        for c in self.cond_columns_:
            if c == column:
                return at
            at += len(self.categories_[c])
        raise KeyError(column)

    def _training_conditions(self, n: int, pools, rng: np.random.Generator, rows: np.ndarray):
        """Training by sampling: a (column, category) per row, then a row holding it."""
        cond = np.zeros((n, self._cond_width()), np.float32)
        if not self.cond_columns_:
            return cond, rows
        cols = rng.integers(len(self.cond_columns_), size=n)
        rows = rows.copy()
        for ci in np.unique(cols):
            name = self.cond_columns_[ci]
            where = np.flatnonzero(cols == ci)
            freq = np.log1p(np.asarray(self.cond_freq_[name], float))
            cats = rng.choice(len(freq), size=len(where), p=freq / freq.sum())
            for k in np.unique(cats):
                pick = where[cats == k]
                rows[pick] = rng.choice(pools[name][k], size=len(pick))
            cond[where, self._cond_offset(name) + cats] = 1.0
        return cond, rows

    def _reconstruction(self, out, x, log_sigma, F):
        import torch

        loss, at, j = 0.0, 0, 0
        for kind, _, width in self.groups_:
            if kind == "offset":
                sigma = torch.exp(log_sigma[j])
                loss = loss + (((x[:, at] - torch.tanh(out[:, at])) ** 2) / (2 * sigma ** 2)).sum() + \
                    torch.log(sigma) * x.shape[0]
                j += 1
            else:
                loss = loss + F.cross_entropy(out[:, at:at + width], x[:, at:at + width].argmax(1), reduction="sum")
            at += width
        return loss / x.shape[0]

    # -- sampling ----------------------------------------------------------------------------------
    def _generate(self, n: int, cond_np: np.ndarray, noise: Noise) -> pd.DataFrame:
        import torch

        device = resolve_device(self.device)
        net = self.model_.to(device)
        with torch.no_grad():
            z = noise.normal(n, self.latent)
            out = net.decode(z, torch.as_tensor(cond_np, device=device))
            picks: dict[str, np.ndarray] = {}
            offsets: dict[str, np.ndarray] = {}
            at, j = 0, 0
            for kind, name, width in self.groups_:
                if kind == "offset":
                    sigma = float(torch.exp(net.log_sigma[j]))
                    value = torch.tanh(out[:, at]) + sigma * noise.normal(n)
                    offsets[name] = value.clamp(-1, 1).cpu().numpy().astype(float)
                    j += 1
                else:
                    probs = torch.softmax(out[:, at:at + width], 1)
                    u = noise.uniform(n, 1)
                    draw = (probs.cumsum(1) < u).sum(1).clamp(max=width - 1)
                    picks[(name + "\x1fmode") if kind == "mode" else name] = draw.cpu().numpy()
                at += width
        frame = {}
        for spec in self.schema_.columns:
            if spec.kind == "categorical":
                values = np.asarray(self.categories_[spec.name], dtype=object)[picks[spec.name]]
                frame[spec.name] = pd.Series(values, dtype=object).where(values != MISSING, None)
                continue
            x = self.modes_[spec.name].decode(offsets[spec.name], picks[spec.name + "\x1fmode"])
            series = from_numbers(x, spec)
            if spec.missing:
                series = mask_missing(series, picks[spec.name + _FLAG] == 1, spec.kind)
            frame[spec.name] = series.reset_index(drop=True)
        return pd.DataFrame(frame)

    def _random_conditions(self, n: int, rng: np.random.Generator) -> np.ndarray:
        cond = np.zeros((n, self._cond_width()), np.float32)
        if not self.cond_columns_:
            return cond
        cols = rng.integers(len(self.cond_columns_), size=n)
        for ci in np.unique(cols):
            name = self.cond_columns_[ci]
            where = np.flatnonzero(cols == ci)
            freq = np.asarray(self.cond_freq_[name], float)
            cond[where, self._cond_offset(name) + rng.choice(len(freq), size=len(where), p=freq / freq.sum())] = 1
        return cond

    def _sample(self, n: int, conditions: pd.DataFrame | None, rng: np.random.Generator) -> pd.DataFrame:
        noise = Noise(int(rng.integers(2**62)), resolve_device(self.device))
        cond = self._random_conditions(n, rng)
        if conditions is None:
            return self._generate(n, cond, noise)
        first = [c for c in conditions.columns if c in self.cond_columns_]
        if first:
            name = first[0]
            given = conditions[name].notna().to_numpy()
            codes = pd.Index(self.categories_[name], dtype=object).get_indexer(conditions[name].astype(object))
            cond[given] = 0
            cond[np.flatnonzero(given), self._cond_offset(name) + codes[given]] = 1
        frame = self._generate(n, cond, noise)
        others = [c for c in conditions.columns if c in self.cond_columns_ and c not in first[:1]]
        for _ in range(self.condition_rounds):
            miss = self._misses(frame, conditions, others)
            if not miss.any():
                break
            redo = self._generate(int(miss.sum()), cond[miss], noise)
            for c in frame.columns:
                column = frame[c].astype(object)
                column[miss] = redo[c].astype(object).to_numpy()
                frame[c] = column.astype(frame[c].dtype)
        return self._write_conditions(frame, conditions)

    @staticmethod
    def _misses(frame: pd.DataFrame, conditions: pd.DataFrame, columns: list[str]) -> np.ndarray:
        miss = np.zeros(len(frame), bool)
        for c in columns:
            given = conditions[c].notna().to_numpy()
            same = frame[c].astype(object).to_numpy() == conditions[c].astype(object).to_numpy()
            miss |= given & ~same
        return miss

    # -- persistence -------------------------------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        return {"categories": self.categories_, "modes": {k: m.to_dict() for k, m in self.modes_.items()},
                "cond_freq": self.cond_freq_, "weights": weights_to_json(self.model_), "loss": list(self.loss_)}

    def _load_state(self, state: dict[str, Any]) -> None:
        self.categories_ = {k: list(v) for k, v in state["categories"].items()}
        self.modes_ = {k: _Modes.from_dict(v) for k, v in state["modes"].items()}
        self.cond_freq_ = {k: list(v) for k, v in state["cond_freq"].items()}
        self.loss_ = list(state.get("loss", []))
        self._layout()
        offsets = sum(1 for g in self.groups_ if g[0] == "offset")
        d_data = sum(g[2] for g in self.groups_)
        net = _build(d_data, self._cond_width(), offsets, self.layers, self.latent)
        weights_from_json(net, state["weights"])
        net.eval()
        self.model_ = net
