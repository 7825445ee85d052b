"""Gaussian copula: every column mapped to a standard normal through its marginal, the
dependence kept as one correlation matrix of those normals (the fast CPU baseline).

- Numeric, integer and date columns: the empirical marginal, stored as a grid of at most
  ``grid`` quantiles (never the training values themselves); ties (integers, repeated values)
  are spread uniformly over their step of the CDF, so discrete columns keep their shares.
  ``marginals="normal"`` fits a normal per column instead (clipped to the range seen).
- Categorical columns: each category owns the slice of (0, 1) its share covers, a row's
  latent value drawn uniformly inside its category's slice; with numeric columns the
  categories are laid out in the order of their mean on the numbers' first principal
  component (else by frequency), so one correlation can carry a dependence such as
  low < mid < high that frequency order would scramble.
- Missing cells: a missing category, or for numeric columns a missing indicator modelled as
  one more categorical column.
- Conditional sampling (``conditions={"col": value}`` or a DataFrame of partial rows): the
  given latent coordinates are fixed (numeric: the value's CDF mid-step) or drawn from the
  normal truncated to the category's slice, one after another given the previous ones; the
  other coordinates come from the Gaussian conditional on them. Exact for one condition and
  for numeric conditions; for several categorical conditions the sequential truncation is an
  approximation.

The saved model holds quantiles per column and the correlation matrix, not rows; it is not
differentially private (``secured.synth.dp`` is, when that is what is published).

>>> import pandas as pd
>>> from secured.data import load
>>> df = load("adult").head(2000)
>>> gen = GaussianCopula(seed=0).fit(df)
>>> rows = gen.sample(500, seed=1)
>>> list(rows.columns) == list(df.columns), len(rows)
(True, 500)
>>> bool((gen.sample(50, conditions={"sex": "Female"}, seed=2)["sex"] == "Female").all())
True
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import special, stats

from ..exceptions import ConfigurationError
from .base import Generator
from .schema import MISSING, Schema, from_numbers, to_numbers

__all__ = ["GaussianCopula"]

_EPS = 1e-6


def _ndtri(u: np.ndarray) -> np.ndarray:
    return special.ndtri(np.clip(u, _EPS, 1 - _EPS))


class GaussianCopula(Generator):
    """Gaussian copula over empirical (or normal) marginals; see the module docstring."""

    name = "gaussian_copula"

    def __init__(self, *, marginals: str = "empirical", grid: int = 512, seed: int = 0) -> None:
        self.marginals, self.grid, self.seed = marginals, grid, seed

    def _validate_params(self) -> None:
        if self.marginals not in ("empirical", "normal"):
            raise ConfigurationError(f"The 'marginals' parameter of GaussianCopula must be 'empirical' or 'normal'. "
                                     f"Got {self.marginals!r} instead.")
        if isinstance(self.grid, bool) or not isinstance(self.grid, int) or self.grid < 16:
            raise ConfigurationError(f"The 'grid' parameter of GaussianCopula must be an int >= 16. "
                                     f"Got {self.grid!r} instead.")

    # -- fitting ---------------------------------------------------------------------------------
    def _fit(self, df: pd.DataFrame, schema: Schema) -> None:
        rng = np.random.default_rng(self.seed)
        self._validate_params()
        latent, self.latent_names_, self.marginals_ = [], [], {}
        axis = self._main_axis(df, schema)
        for spec in schema.columns:
            values = df[spec.name]
            if spec.kind == "categorical":
                cats = list(spec.categories) + ([MISSING] if spec.missing else [])
                labels = values.astype(object).where(values.notna(), MISSING)
                codes = pd.Categorical(labels, categories=cats).codes
                if axis is not None and len(cats) > 2:
                    # categories laid along the numbers' main axis, so one correlation can carry
                    # a dependence that is not monotone in frequency order
                    means = pd.Series(axis).groupby(codes).mean().reindex(range(len(cats))).fillna(0.0)
                    order = np.argsort(means.to_numpy(), kind="stable")
                    cats = [cats[i] for i in order]
                    codes = np.argsort(order)[codes]
                shares = np.bincount(codes, minlength=len(cats)) / len(codes)
                edges = np.concatenate([[0.0], np.cumsum(shares)])
                edges[-1] = 1.0
                u = edges[codes] + rng.random(len(codes)) * shares[codes]
                self.marginals_[spec.name] = {"type": "categories", "categories": cats, "edges": edges.tolist()}
                latent.append(_ndtri(u))
                self.latent_names_.append(spec.name)
                continue
            present = values.notna().to_numpy()
            x = np.full(len(values), np.nan)
            x[present] = to_numbers(values[present], spec.kind)
            xs = np.sort(x[present])
            if self.marginals == "normal" and spec.kind == "numeric":
                mu, sd = float(xs.mean()), float(xs.std()) or 1.0
                u = stats.norm.cdf((x - mu) / sd)
                self.marginals_[spec.name] = {"type": "normal", "mean": mu, "sd": sd}
            else:
                below = np.searchsorted(xs, x[present], "left") / len(xs)
                upto = np.searchsorted(xs, x[present], "right") / len(xs)
                u = np.full(len(values), 0.5)
                u[present] = below + rng.random(present.sum()) * (upto - below)
                probs = np.linspace(0, 1, min(self.grid, len(xs)))
                method = "inverted_cdf" if spec.kind != "numeric" else "linear"
                self.marginals_[spec.name] = {"type": "quantiles", "p": probs.tolist(),
                                              "q": np.quantile(xs, probs, method=method).tolist()}
            u = np.where(present, u, rng.random(len(values)))      # missing rows: any value, masked on sampling
            latent.append(_ndtri(u))
            self.latent_names_.append(spec.name)
            if spec.missing:
                flag = f"{spec.name}\x1fmissing"
                share = float((~present).mean())
                edges = [0.0, 1.0 - share, 1.0]
                uu = np.where(present, rng.random(len(values)) * (1 - share),
                              1 - share + rng.random(len(values)) * share)
                self.marginals_[flag] = {"type": "categories", "categories": [False, True], "edges": edges}
                latent.append(_ndtri(uu))
                self.latent_names_.append(flag)
        z = np.column_stack(latent)
        sd = z.std(axis=0)
        corr = np.eye(z.shape[1])
        live = sd > 1e-9
        if live.sum() > 1:
            corr[np.ix_(live, live)] = np.corrcoef(z[:, live], rowvar=False)
        corr = np.nan_to_num(corr)
        np.fill_diagonal(corr, 1.0)
        # nearest positive definite (eigenvalues floored), so sampling and conditioning are stable
        w, v = np.linalg.eigh(corr)
        corr = (v * np.maximum(w, 1e-6)) @ v.T
        d = np.sqrt(np.diag(corr))
        self.correlation_ = corr / d[:, None] / d[None, :]

    @staticmethod
    def _main_axis(df: pd.DataFrame, schema: Schema) -> np.ndarray | None:
        """Per row, the first principal component of the numeric columns' normal scores
        (None without numeric columns)."""
        scores = []
        for spec in schema.columns:
            if spec.kind == "categorical" or spec.constant:
                continue
            x = pd.Series(to_numbers(df[spec.name], spec.kind))
            ranks = x.rank(pct=True).fillna(0.5).to_numpy()
            scores.append(_ndtri(ranks - 0.5 / len(ranks)))
        if not scores:
            return None
        z = np.column_stack(scores)
        if z.shape[1] == 1:
            return z[:, 0]
        _, _, vt = np.linalg.svd(z - z.mean(axis=0), full_matrices=False)
        return z @ vt[0]

    # -- sampling --------------------------------------------------------------------------------
    def _latent_of_condition(self, name: str, value: Any) -> tuple[float, float]:
        """The slice (lo, hi) of the standard normal a given cell fixes (lo == hi for a point)."""
        marginal = self.marginals_[name]
        if marginal["type"] == "categories":
            i = marginal["categories"].index(value)
            a, b = marginal["edges"][i], marginal["edges"][i + 1]
            return float(_ndtri(np.array([a]))[0]), float(_ndtri(np.array([b]))[0])
        spec = self.schema_[name]
        x = float(to_numbers(pd.Series([value]), spec.kind)[0])
        if marginal["type"] == "normal":
            z = (x - marginal["mean"]) / marginal["sd"]
        else:
            p, q = np.asarray(marginal["p"]), np.asarray(marginal["q"])
            lo, hi = np.searchsorted(q, x, "left"), np.searchsorted(q, x, "right")
            u = (p[min(lo, len(p) - 1)] + p[max(min(hi, len(p)) - 1, 0)]) / 2 if hi > lo else np.interp(x, q, p)
            z = float(_ndtri(np.array([u]))[0])
        return z, z

    def _sample_latent(self, n: int, rng: np.random.Generator, given: dict[int, np.ndarray] | None = None,
                       bounds: dict[int, tuple[np.ndarray, np.ndarray]] | None = None) -> np.ndarray:
        """n latent rows; coordinates in ``bounds`` drawn truncated (or fixed when lo == hi),
        one after another, the rest conditional on them."""
        sigma = self.correlation_
        d = sigma.shape[0]
        z = np.empty((n, d))
        fixed: list[int] = []
        for j, (lo, hi) in (bounds or {}).items():
            if fixed:
                s_gg = sigma[np.ix_(fixed, fixed)]
                s_jg = sigma[j, fixed]
                coef = np.linalg.solve(s_gg, s_jg)
                mean = z[:, fixed] @ coef
                sd = np.sqrt(max(sigma[j, j] - s_jg @ coef, 1e-12))
            else:
                mean, sd = np.zeros(n), 1.0
            point = lo == hi
            a, b = (lo - mean) / sd, (hi - mean) / sd
            draw = stats.truncnorm.rvs(np.where(point, -1, a), np.where(point, 1, b), random_state=rng, size=n)
            z[:, j] = np.where(point, lo, mean + sd * draw)
            fixed.append(j)
        rest = [j for j in range(d) if j not in fixed]
        if not fixed:
            return rng.standard_normal((n, d)) @ np.linalg.cholesky(sigma).T
        s_gg = sigma[np.ix_(fixed, fixed)]
        s_rg = sigma[np.ix_(rest, fixed)]
        coef = np.linalg.solve(s_gg, s_rg.T).T                            # rest x fixed
        cov = sigma[np.ix_(rest, rest)] - coef @ s_rg.T
        w, v = np.linalg.eigh((cov + cov.T) / 2)
        root = v * np.sqrt(np.maximum(w, 0))
        z[:, rest] = z[:, fixed] @ coef.T + rng.standard_normal((n, len(rest))) @ root.T
        return z

    def _decode(self, z: np.ndarray) -> pd.DataFrame:
        u = special.ndtr(z)
        col = {name: i for i, name in enumerate(self.latent_names_)}
        out = {}
        for spec in self.schema_.columns:
            marginal = self.marginals_[spec.name]
            uu = u[:, col[spec.name]]
            if marginal["type"] == "categories":
                edges = np.asarray(marginal["edges"])
                idx = np.clip(np.searchsorted(edges, uu, "right") - 1, 0, len(marginal["categories"]) - 1)
                values = np.asarray(marginal["categories"], dtype=object)[idx]
                series = pd.Series(values, dtype=object).where(values != MISSING, None)
            else:
                if marginal["type"] == "normal":
                    x = marginal["mean"] + marginal["sd"] * special.ndtri(np.clip(uu, _EPS, 1 - _EPS))
                else:
                    x = np.interp(uu, marginal["p"], marginal["q"])
                series = from_numbers(x, spec)
                if spec.missing:
                    flag = u[:, col[f"{spec.name}\x1fmissing"]] >= self.marginals_[f"{spec.name}\x1fmissing"]["edges"][1]
                    series = series.astype(object if spec.kind == "datetime" else series.dtype)
                    series[flag] = None if spec.kind == "datetime" else pd.NA
                    if spec.kind == "numeric":
                        series = series.astype(float)
                    elif spec.kind == "datetime":
                        series = pd.to_datetime(series)
            out[spec.name] = series.reset_index(drop=True)
        return pd.DataFrame(out)

    def _sample(self, n: int, conditions: pd.DataFrame | None, rng: np.random.Generator) -> pd.DataFrame:
        if conditions is None:
            return self._decode(self._sample_latent(n, rng))
        col = {name: i for i, name in enumerate(self.latent_names_)}
        pieces = []
        pattern = conditions.notna().to_numpy()
        keys = [tuple(r) for r in pattern]
        for key in dict.fromkeys(keys):
            rows = np.flatnonzero([k == key for k in keys])
            part = conditions.iloc[rows]
            bounds = {}
            for c, given in zip(conditions.columns, key):
                if not given:
                    continue
                pairs = [self._latent_of_condition(c, v) for v in part[c]]
                bounds[col[c]] = (np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs]))
            frame = self._decode(self._sample_latent(len(rows), rng, bounds=bounds))
            for c, given in zip(conditions.columns, key):
                if given:
                    frame[c] = part[c].to_numpy()
            frame.index = rows
            pieces.append(frame)
        return pd.concat(pieces).sort_index().reset_index(drop=True)

    def _state(self) -> dict[str, Any]:
        return {"latent_names": self.latent_names_, "marginals": self.marginals_,
                "correlation": self.correlation_.tolist()}

    def _load_state(self, state: dict[str, Any]) -> None:
        self.latent_names_ = list(state["latent_names"])
        self.marginals_ = dict(state["marginals"])
        self.correlation_ = np.asarray(state["correlation"], dtype=float)

    def get_params(self) -> dict[str, Any]:
        return {"marginals": self.marginals, "grid": self.grid, "seed": self.seed}

