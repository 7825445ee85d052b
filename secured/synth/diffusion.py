"""A tabular diffusion model in the TabDDPM style (Kotelnikov et al., ICML 2023): Gaussian
diffusion for the numeric columns, multinomial diffusion for the categorical ones, one MLP
denoiser for both, and a few-step sampler.

- Numeric, integer and date columns go to standard normal scores through a quantile grid
  (``_tabular.TableEncoder``); categorical columns (and missing indicators) stay categories.
- Forward process over ``timesteps`` steps with a cosine schedule: x_t = sqrt(abar_t) x_0 +
  sqrt(1 - abar_t) eps for the numbers; for a category with K values, q(x_t | x_0) =
  abar_t onehot(x_0) + (1 - abar_t) / K (Hoogeboom et al., 2021).
- The denoiser (an MLP over the noisy numbers, the noisy one-hot categories and a sinusoidal
  embedding of t) predicts eps for the numbers and the logits of x_0 for each category. The
  loss is the mean squared error of eps plus the mean over categorical features of the KL
  divergence between the true posterior q(x_{t-1} | x_t, x_0) and the model's (x_0 replaced by
  its prediction), the negative log-likelihood at t = 1.
- Sampling walks ``sample_steps`` evenly spaced steps (default 10, not 1,000): DDIM
  (Song et al., 2021; ``eta`` 0 is deterministic, 1 is ancestral) for the numbers and, for the
  categories, the exact multinomial posterior between any two steps s < t, q(x_s | x_t, x_0)
  proportional to [abar_t/abar_s onehot(x_t) + (1 - abar_t/abar_s)/K] * [abar_s x_0 + (1 - abar_s)/K],
  with the predicted x_0 probabilities plugged in.
- ``condition_on`` (TabDDPM's class conditioning for a classification target): that
  categorical column is never noised; the denoiser learns the other columns given it, and
  sampling draws it first from its training shares (or takes it from the conditions), so the
  link between the target and the features is learned directly. On Adult it closes most of
  the gap between training on synthetic and on real rows (see the README).
- Conditions (a mapping or a DataFrame of partial rows) are imposed by inpainting: at every
  step the given cells are replaced by the forward process applied to their values, and they
  are set exactly at the end. The other cells follow the given ones through the denoiser; it
  is an approximation of the true conditional that improves with ``sample_steps``.

``device="auto"`` trains and samples on CUDA when torch sees a GPU; all random numbers are
drawn on the CPU from the seed, so CPU and GPU give the same rows up to floating point.

>>> from secured.data import load
>>> from secured.synth import typed
>>> df = typed(load("adult").head(1000))
>>> gen = TabDDPM(iterations=30, seed=0).fit(df)
>>> rows = gen.sample(200, seed=1)
>>> rows.shape, bool(rows["age"].between(df["age"].min(), df["age"].max()).all())
((200, 9), True)
"""

from __future__ import annotations

import math
import time
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..exceptions import ConfigurationError
from ..progress import Progress, emit
from ._tabular import (Noise, TableEncoder, batches, check_layers, check_positive_int, check_real,
                       resolve_device, weights_from_json, weights_to_json)
from .base import Generator
from .schema import Schema

__all__ = ["TabDDPM"]

_LOG_EPS = 1e-30


def _cosine_abar(timesteps: int) -> np.ndarray:
    """abar_0 = 1, ..., abar_T (cosine schedule of Nichol & Dhariwal, betas capped at 0.999)."""
    s = 0.008
    t = np.arange(timesteps + 1) / timesteps
    f = np.cos((t + s) / (1 + s) * math.pi / 2) ** 2
    abar = f / f[0]
    betas = np.clip(1 - abar[1:] / abar[:-1], 0, 0.999)
    return np.concatenate([[1.0], np.cumprod(1 - betas)])


class _Categories:
    """The categorical features of a row side by side (rows x the sum of their sizes), with a
    0/1 matrix from each slot to its feature, so that softmax, posteriors and draws run once
    for all features (segment sums are matrix products)."""

    def __init__(self, sizes: Sequence[int], device: str) -> None:
        import torch

        self.sizes = list(sizes)
        total = int(sum(self.sizes))
        feature = np.repeat(np.arange(len(self.sizes)), self.sizes)
        self.seg = torch.zeros((max(total, 1), max(len(self.sizes), 1)), dtype=torch.float32, device=device)
        if total:
            self.seg[np.arange(total), feature] = 1.0
        self.k = torch.tensor(np.repeat(self.sizes, self.sizes) if total else [1], dtype=torch.float32,
                              device=device)[None]
        self.offsets = torch.tensor(np.cumsum([0, *self.sizes[:-1]]) if self.sizes else [0], dtype=torch.long,
                                    device=device)
        self.total = total
        self.last = torch.tensor([k - 1 for k in self.sizes] or [0], device=device)[None]

    def _sum(self, x):
        """Per-feature sums of a (rows x slots) block, spread back over the slots."""
        return (x @ self.seg) @ self.seg.T

    def onehot(self, codes):
        import torch

        out = torch.zeros((codes.shape[0], self.total), dtype=torch.float32, device=codes.device)
        return out.scatter_(1, codes + self.offsets, 1.0)

    def probs(self, logits):
        """Softmax per feature of the flat logits."""
        import torch

        e = torch.exp(logits - logits.max(1, keepdim=True).values)
        return e / self._sum(e).clamp(min=1e-30)

    def posterior(self, xt, x0, a_t, a_s):
        """p(x_s | x_t) for every feature, given a distribution ``x0`` of x_0 (one-hot: the
        true posterior q(x_s | x_t, x_0)).

        It is the mixture over x_0 of x0(x_0) q(x_s | x_t, x_0), where q(x_s | x_t, x_0) =
        q(x_t | x_s) q(x_s | x_0) / q(x_t | x_0); so each x_0 is weighted by
        x0 / q(x_t | x_0) before the product, and a calibrated prediction of x_0 gives the exact
        step (plugging the prediction in unweighted is biased towards the current x_t).
        """
        if a_t.dim():
            a_t, a_s = a_t.reshape(-1, 1), a_s.reshape(-1, 1)
        alpha = a_t / a_s
        left = alpha * xt + (1 - alpha) / self.k
        weights = x0 / (a_t * xt + (1 - a_t) / self.k)
        right = a_s * weights + (1 - a_s) / self.k * self._sum(weights)
        unnorm = left * right
        return unnorm / self._sum(unnorm)

    def weight(self, feature: int | None):
        """1 for every slot, 0 for the slots of ``feature`` (a conditioning column)."""
        if feature is None:
            return 1.0
        return 1.0 - self.seg[:, feature][None]

    def draw_one(self, shares, n: int, noise: Noise):
        """``n`` draws from one distribution over codes."""
        import torch

        u = noise.uniform(n, 1)
        return torch.minimum((shares.cumsum(0)[None] < u * shares.sum()).sum(1), torch.tensor(len(shares) - 1))

    def forward_noise(self, x0, a_t):
        """q(x_t | x_0) for every feature."""
        if a_t.dim():
            a_t = a_t.reshape(-1, 1)
        return a_t * x0 + (1 - a_t) / self.k

    def draw(self, probs, noise: Noise):
        """One category per row and feature (inverse CDF inside each feature's slots)."""
        cdf = probs.cumsum(1)
        start = (cdf - probs)[:, self.offsets]            # mass before a feature, rows x features
        top = (probs @ self.seg)
        u = start + noise.uniform(probs.shape[0], len(self.sizes)) * top
        below = ((cdf < u @ self.seg.T).float() @ self.seg).long()
        return below.minimum(self.last)


def _build_denoiser(d_num: int, sizes: Sequence[int], layers: Sequence[int], dim_t: int, dropout: float):
    import torch
    from torch import nn

    d_out = d_num + int(sum(sizes))

    class Denoiser(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.dim_t = dim_t
            self.time = nn.Sequential(nn.Linear(dim_t, dim_t), nn.SiLU(), nn.Linear(dim_t, dim_t))
            self.proj = nn.Linear(max(d_num, 1), dim_t)
            self.proj_cat = nn.Linear(max(int(sum(sizes)), 1), dim_t, bias=False)
            blocks, width = [], dim_t
            for w in layers:
                blocks += [nn.Linear(width, w), nn.ReLU(inplace=True)] + ([nn.Dropout(dropout)] if dropout else [])
                width = w
            self.body = nn.Sequential(*blocks)
            self.head = nn.Linear(width, d_out)

        def forward(self, x_num, x_onehot, t):
            """Noisy numbers, noisy categories one-hot side by side; ``t``: one step per row, or
            one int for every row (sampling)."""
            half = self.dim_t // 2
            dtype = self.proj.weight.dtype
            freqs = torch.exp(-math.log(10_000) * torch.arange(half, device=self.proj.weight.device, dtype=dtype)
                              / half)
            steps = torch.full((1,), float(t), device=freqs.device, dtype=dtype) if isinstance(t, int) \
                else t.to(dtype)
            args = steps[:, None] * freqs[None]
            h = self.time(torch.cat([torch.cos(args), torch.sin(args)], dim=1))
            h = h + (self.proj(x_num) if d_num else self.proj.bias)
            if sizes:
                h = h + self.proj_cat(x_onehot)
            return self.head(self.body(h))

    return Denoiser().float()            # float32 whatever torch's default dtype is


class TabDDPM(Generator):
    """Gaussian + multinomial diffusion with an MLP denoiser; see the module docstring.

    Parameters: ``iterations`` (optimizer steps) of ``batch_size`` rows, AdamW at ``lr`` with
    ``weight_decay``, denoiser ``layers`` (widths after a ``dim_t``-wide projection),
    ``timesteps`` of the forward process, ``sample_steps`` and ``eta`` of the sampler,
    ``ce_weight`` of the cross-entropy on the predicted categories, ``condition_on`` (a
    categorical column kept clean), ``device``, ``seed`` and an optional ``progress`` callback
    (``secured.progress``). Fewer sample steps are faster; each step draws the categories of a
    row independently given the model's prediction, so very few steps (below about 8) blur
    strong links between categorical columns.
    """

    name = "tabddpm"

    def __init__(self, *, iterations: int = 4000, batch_size: int = 1024, lr: float = 2e-3,
                 weight_decay: float = 1e-4, layers: Sequence[int] = (256, 256, 256), dim_t: int = 128,
                 dropout: float = 0.0, timesteps: int = 1000, sample_steps: int = 10, eta: float = 1.0,
                 ce_weight: float = 1.0, condition_on: str | None = None, grid: int = 1024, device: str = "auto",
                 seed: int = 0, progress: Progress | None = None) -> None:
        self.iterations, self.batch_size, self.lr, self.weight_decay = iterations, batch_size, lr, weight_decay
        self.layers, self.dim_t, self.dropout = layers, dim_t, dropout
        self.timesteps, self.sample_steps, self.eta, self.grid = timesteps, sample_steps, eta, grid
        self.ce_weight, self.condition_on = ce_weight, condition_on
        self.device, self.seed, self.progress = device, seed, progress

    def get_params(self) -> dict[str, Any]:
        return {"iterations": self.iterations, "batch_size": self.batch_size, "lr": self.lr,
                "weight_decay": self.weight_decay, "layers": list(self.layers), "dim_t": self.dim_t,
                "dropout": self.dropout, "timesteps": self.timesteps, "sample_steps": self.sample_steps,
                "eta": self.eta, "ce_weight": self.ce_weight, "condition_on": self.condition_on, "grid": self.grid,
                "device": self.device, "seed": self.seed}

    def _validate_params(self) -> None:
        owner = "TabDDPM"
        for name in ("iterations", "batch_size", "timesteps", "sample_steps"):
            check_positive_int(owner, name, getattr(self, name))
        check_positive_int(owner, "dim_t", self.dim_t, 4)
        check_positive_int(owner, "grid", self.grid, 16)
        if self.dim_t % 2:
            raise ConfigurationError(f"The 'dim_t' parameter of TabDDPM must be even. Got {self.dim_t!r} instead.")
        if self.sample_steps > self.timesteps:
            raise ConfigurationError("The 'sample_steps' parameter of TabDDPM cannot exceed 'timesteps' "
                                     f"({self.timesteps}).")
        check_real(owner, "lr", self.lr, 1e-7, 1.0)
        check_real(owner, "weight_decay", self.weight_decay, 0.0, 1.0)
        check_real(owner, "dropout", self.dropout, 0.0, 0.9)
        check_real(owner, "eta", self.eta, 0.0, 1.0)
        check_real(owner, "ce_weight", self.ce_weight, 0.0, 100.0)
        check_layers(owner, self.layers)

    # -- fitting -----------------------------------------------------------------------------------
    def _fit(self, df: pd.DataFrame, schema: Schema) -> None:
        import torch

        self._validate_params()
        device = resolve_device(self.device)
        rng = np.random.default_rng(self.seed)
        torch.manual_seed(self.seed)
        self.encoder_ = TableEncoder(self.grid).fit(df, schema)
        enc = self.encoder_.encode(df, rng)
        self.sizes_ = enc.sizes
        self._condition_index()
        if self.cond_ is not None:
            counts = np.bincount(enc.categorical[:, self.cond_], minlength=self.sizes_[self.cond_])
            self.cond_shares_ = (counts / counts.sum()).tolist()
        self.abar_ = _cosine_abar(self.timesteps)
        model = _build_denoiser(enc.numeric.shape[1], self.sizes_, self.layers, self.dim_t, self.dropout).to(device)
        self._cats = _Categories(self.sizes_, device)
        noise = Noise(self.seed, device)
        x_num = torch.tensor(enc.numeric, dtype=torch.float32, device=device)
        x_cat = torch.tensor(enc.categorical, dtype=torch.long, device=device)
        abar = torch.tensor(self.abar_, dtype=torch.float32, device=device)
        opt = torch.optim.AdamW(model.parameters(), lr=self.lr, weight_decay=self.weight_decay, foreach=True)
        model.train()
        start, self.loss_ = time.perf_counter(), []
        for step, rows in enumerate(batches(len(df), self.batch_size, self.iterations, rng), 1):
            idx = torch.as_tensor(rows, device=device)
            loss = self._loss(model, x_num[idx], x_cat[idx], abar, noise)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            # linear decay of the learning rate, as TabDDPM does
            for group in opt.param_groups:
                group["lr"] = self.lr * (1 - step / self.iterations)
            if step % 50 == 0 or step == self.iterations:
                self.loss_.append(float(loss.detach()))
                emit(self.progress, "tabddpm: training steps", step, self.iterations)
        self.fit_seconds_ = time.perf_counter() - start
        model.eval()
        self.model_ = model

    def _condition_index(self) -> None:
        """The categorical feature kept clean (``condition_on``), or None."""
        self.cond_ = None
        if self.condition_on is None:
            return
        names = self.encoder_.categorical
        if self.condition_on not in names:
            raise ConfigurationError(f"The 'condition_on' parameter of TabDDPM names {self.condition_on!r}, which is "
                                     "not a categorical column of the table; give a categorical column (the target "
                                     "of a classification task).")
        self.cond_ = names.index(self.condition_on)

    def _keep_condition(self, xt_cat, x_cat):
        """The conditioning feature is never noised."""
        if self.cond_ is None:
            return xt_cat
        xt_cat = xt_cat.clone()
        xt_cat[:, self.cond_] = x_cat[:, self.cond_]
        return xt_cat

    def _loss(self, model, x_num, x_cat, abar, noise: Noise):
        import torch
        import torch.nn.functional as F

        n, d_num = x_num.shape[0], x_num.shape[1]
        cats = self._cats
        t = noise.integers(self.timesteps, n) + 1                       # 1..T
        a_t, a_prev = abar[t], abar[t - 1]
        eps = noise.normal(n, d_num)
        xt_num = a_t.sqrt()[:, None] * x_num + (1 - a_t).sqrt()[:, None] * eps
        if self.sizes_:
            x0 = cats.onehot(x_cat)
            xt = cats.onehot(self._keep_condition(cats.draw(cats.forward_noise(x0, a_t), noise), x_cat))
        else:
            xt = None
        out = model(xt_num, xt, t)
        loss = F.mse_loss(out[:, :d_num], eps) if d_num else out.sum() * 0
        learned = len(self.sizes_) - (self.cond_ is not None)
        if learned:
            logits = out[:, d_num:]
            p0 = cats.probs(logits)
            true = cats.posterior(xt, x0, a_t, a_prev)
            pred = cats.posterior(xt, p0, a_t, a_prev)
            kl = (true * (torch.log(true + _LOG_EPS) - torch.log(pred + _LOG_EPS))) * cats.weight(self.cond_)
            ce = -torch.log(torch.gather(p0, 1, x_cat + cats.offsets) + _LOG_EPS)
            if self.cond_ is not None:
                ce[:, self.cond_] = 0
            loss = loss + kl.sum(1).mean() / learned + self.ce_weight * ce.sum(1).mean() / learned
        return loss

    # -- sampling ----------------------------------------------------------------------------------
    def _sample(self, n: int, conditions: pd.DataFrame | None, rng: np.random.Generator) -> pd.DataFrame:
        import torch
        import torch.nn.functional as F

        device = resolve_device(self.device)
        model = self.model_.to(device)
        noise = Noise(int(rng.integers(2**62)), device)
        known = self._known(conditions, n, rng) if conditions is not None else None
        d_num = len(self.encoder_.numeric)
        abar = torch.tensor(self.abar_, dtype=torch.float32, device=device)
        path = np.unique(np.round(np.linspace(0, self.timesteps, self.sample_steps + 1)).astype(int))[::-1]
        chunks_num, chunks_cat = [], []
        cats = self._cats = _Categories(self.sizes_, device)
        chunk = 8192
        with torch.no_grad():
            for lo in range(0, n, chunk):
                m = min(chunk, n - lo)
                x_num = noise.normal(m, d_num)
                x_cat = torch.stack([noise.integers(k, m) for k in self.sizes_], 1) if self.sizes_ \
                    else torch.zeros((m, 0), dtype=torch.long, device=device)
                if self.cond_ is not None:     # the conditioning column first, from its shares or as given
                    fixed = cats.draw_one(torch.tensor(self.cond_shares_, dtype=torch.float32, device=device), m, noise)
                    if known is not None:
                        given = known["cat_mask"][lo:lo + m, self.cond_]
                        fixed = torch.where(given, known["cat"][lo:lo + m, self.cond_], fixed)
                    x_cat[:, self.cond_] = fixed
                sel = None if known is None else slice(lo, lo + m)
                for t, s in zip(path[:-1], path[1:]):
                    if known is not None:
                        x_num, x_cat = self._impose(known, sel, x_num, x_cat, abar[t], noise)
                    onehot = cats.onehot(x_cat) if self.sizes_ else None
                    out = model(x_num, onehot, int(t))
                    a_t, a_s = abar[t], abar[s]
                    eps = out[:, :d_num]
                    x0 = ((x_num - (1 - a_t).sqrt() * eps) / a_t.sqrt()).clamp(-6, 6)
                    eps = (x_num - a_t.sqrt() * x0) / (1 - a_t).sqrt()
                    sigma = self.eta * ((1 - a_s) / (1 - a_t) * (1 - a_t / a_s)).clamp(min=0).sqrt()
                    x_num = a_s.sqrt() * x0 + (1 - a_s - sigma ** 2).clamp(min=0).sqrt() * eps
                    if s > 0:
                        x_num = x_num + sigma * noise.normal(m, d_num)
                    if self.sizes_:
                        post = cats.posterior(onehot, cats.probs(out[:, d_num:]), a_t, a_s)
                        x_cat = self._keep_condition(cats.draw(post, noise), x_cat)
                if known is not None:
                    x_num, x_cat = self._impose(known, sel, x_num, x_cat, abar[0], noise)
                chunks_num.append(x_num.cpu().numpy().astype(float))
                chunks_cat.append(x_cat.cpu().numpy())
        frame = self.encoder_.decode(np.vstack(chunks_num), np.vstack(chunks_cat))
        return frame if conditions is None else self._write_conditions(frame, conditions)

    def _known(self, conditions: pd.DataFrame, n: int, rng: np.random.Generator) -> dict[str, Any]:
        """The given cells in the model's coordinates: numeric scores and category codes, with
        masks of where they are given."""
        import torch

        device = resolve_device(self.device)
        full = pd.DataFrame({c: conditions[c] if c in conditions.columns else pd.Series([None] * n, dtype=object)
                             for c in self.schema_.names})
        for spec in self.schema_.columns:
            if spec.kind != "categorical" and spec.name in conditions.columns:
                full[spec.name] = pd.to_datetime(full[spec.name]) if spec.kind == "datetime" \
                    else pd.to_numeric(full[spec.name])
        enc = self.encoder_.encode(full, rng)
        num_mask = np.column_stack([full[c].notna().to_numpy() & (c in conditions.columns)
                                    for c in self.encoder_.numeric]) if self.encoder_.numeric \
            else np.zeros((n, 0), bool)
        cat_mask = []
        for name in self.encoder_.categorical:
            base = name.split("\x1f")[0]
            given = base in conditions.columns
            cat_mask.append(full[base].notna().to_numpy() & given if given else np.zeros(n, bool))
        cat_mask = np.column_stack(cat_mask) if cat_mask else np.zeros((n, 0), bool)
        # a missing flag is known (False) where the numeric cell is given
        as_t = lambda a, dt: torch.as_tensor(a, dtype=dt, device=device)  # noqa: E731
        codes = np.where(cat_mask, enc.categorical, 0)          # cells not given: any valid code, masked
        return {"num": as_t(enc.numeric, torch.float32), "num_mask": as_t(num_mask, torch.bool),
                "cat": as_t(codes, torch.long), "cat_mask": as_t(cat_mask, torch.bool)}

    def _impose(self, known, sel, x_num, x_cat, a_t, noise: Noise):
        import torch

        m = x_num.shape[0]
        if x_num.shape[1]:
            forward = a_t.sqrt() * known["num"][sel] + (1 - a_t).sqrt() * noise.normal(m, x_num.shape[1])
            x_num = torch.where(known["num_mask"][sel], forward, x_num)
        if self.sizes_:
            cats = self._cats
            drawn = cats.draw(cats.forward_noise(cats.onehot(known["cat"][sel]), a_t), noise)
            x_cat = self._keep_condition(torch.where(known["cat_mask"][sel], drawn, x_cat), x_cat)
        return x_num, x_cat

    # -- persistence -------------------------------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        return {"encoder": self.encoder_.to_dict(), "sizes": list(self.sizes_), "weights": weights_to_json(self.model_),
                "loss": list(self.loss_), "condition_shares": getattr(self, "cond_shares_", None)}

    def _load_state(self, state: dict[str, Any]) -> None:
        self.encoder_ = TableEncoder.from_dict(state["encoder"], self.schema_)
        self.sizes_ = [int(k) for k in state["sizes"]]
        self._condition_index()
        if self.cond_ is not None:
            self.cond_shares_ = [float(v) for v in state["condition_shares"]]
        self.abar_ = _cosine_abar(self.timesteps)
        self.loss_ = list(state.get("loss", []))
        model = _build_denoiser(len(self.encoder_.numeric), self.sizes_, self.layers, self.dim_t, self.dropout)
        weights_from_json(model, state["weights"])
        model.eval()
        self.model_ = model
