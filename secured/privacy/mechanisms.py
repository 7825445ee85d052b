"""OpenDP measurements for the work that builds on many small releases (the DP synthetic-data
generators): noisy counts of coded rows, a private choice among scored candidates, the
conversion from (epsilon, delta) to a zCDP budget, and the per-person contribution bound.

Every function here draws its noise through OpenDP (``secured.privacy.dp`` enables its
"contrib" features in one place) and returns what it spent in rho (zero-concentrated DP), so
that the caller charges a :class:`~secured.privacy.dp.BudgetLedger` *before* calling it. The
neighbouring relation is the one of ``secured.privacy.dp``: adding or removing one person,
who contributes at most ``contributions`` rows.

>>> rho_for(1.0, 1e-9) < 0.03          # (1, 1e-9)-DP leaves a zCDP budget of about 0.027
True
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from ..exceptions import ConfigurationError
from .dp import _bound_rows, _dp, _noise_chain

__all__ = ["rho_for", "counts_scale", "noisy_counts", "select_scale", "noisy_select", "bound_contributions",
           "epsilon_for"]


def _check_rho(rho: Any, where: str) -> float:
    if isinstance(rho, bool) or not isinstance(rho, (int, float, np.integer, np.floating)) \
            or not math.isfinite(float(rho)) or not 0 < float(rho) < 1e6:
        raise ConfigurationError(f"{where}: rho must be a positive, finite number below 1e6.")
    return float(rho)


def epsilon_for(rho: float, delta: float) -> float:
    """The epsilon of the (epsilon, delta)-DP guarantee that rho-zCDP implies, by OpenDP's
    conversion (``make_zCDP_to_approxDP`` at ``delta``)."""
    dp = _dp()
    rho = _check_rho(rho, "epsilon_for")
    space = dp.vector_domain(dp.atom_domain(T=float, nan=False)), dp.l2_distance(T=float)
    gaussian = dp.m.make_gaussian(*space, 1.0 / math.sqrt(2 * rho))        # rho-zCDP at d_in = 1
    eps, _ = dp.c.make_fix_delta(dp.c.make_zCDP_to_approxDP(gaussian), float(delta)).map(1.0)
    return float(eps)


def rho_for(epsilon: float, delta: float) -> float:
    """The largest zCDP budget rho whose guarantee implies (epsilon, delta)-DP (bisection on
    :func:`epsilon_for`; never above the target)."""
    for name, value, high in (("epsilon", epsilon, 1e4), ("delta", delta, 1.0)):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
                or not math.isfinite(float(value)) or not 0 < float(value) < high:
            raise ConfigurationError(f"{name} must be a positive number below {high:g}.")
    lo, hi = 1e-12, float(epsilon)            # rho-zCDP implies (rho + ..., delta)-DP, so rho < epsilon
    for _ in range(80):
        mid = math.sqrt(lo * hi)
        if epsilon_for(mid, delta) <= epsilon:
            lo = mid
        else:
            hi = mid
    return lo


def counts_scale(rho: float, contributions: int = 1) -> float:
    """The discrete Gaussian scale that :func:`noisy_counts` uses for ``rho``."""
    return contributions / math.sqrt(2 * _check_rho(rho, "counts_scale"))


def noisy_counts(codes: np.ndarray, n_cells: int, rho: float, contributions: int = 1) -> tuple[np.ndarray, float]:
    """Counts of the cell codes 0..n_cells-1 in ``codes`` with discrete Gaussian noise
    (OpenDP ``make_count_by_categories`` >> ``make_gaussian``), rho-zCDP when each person holds
    at most ``contributions`` of the rows. Returns (noisy counts, rho spent)."""
    dp = _dp()
    rho = _check_rho(rho, "noisy_counts")
    query, noise, _ = _noise_chain(dp, "rho", int(n_cells))
    meas, spent = _within(lambda s: query >> noise(query.output_domain, query.output_metric, s),
                          counts_scale(rho, contributions), contributions, rho)
    out = meas(np.asarray(codes, dtype=np.int64).tolist())
    return np.asarray(out[:-1], dtype=np.int64), spent


def select_scale(rho: float, sensitivity: float) -> float:
    """The Gumbel scale of :func:`noisy_select` for ``rho``."""
    return sensitivity / math.sqrt(8 * _check_rho(rho, "select_scale"))


def noisy_select(scores: Sequence[float], rho: float, sensitivity: float) -> tuple[int, float]:
    """The index of a high score chosen by the exponential mechanism (OpenDP's
    ``make_noisy_max`` with Gumbel noise, zCDP), when one person moves each score by at most
    ``sensitivity``. Returns (index, rho spent)."""
    dp = _dp()
    rho = _check_rho(rho, "noisy_select")
    space = dp.vector_domain(dp.atom_domain(T=float, nan=False)), dp.linf_distance(T=float)
    meas, spent = _within(lambda s: dp.m.make_noisy_max(*space, dp.zero_concentrated_divergence(), scale=s),
                          select_scale(rho, sensitivity), float(sensitivity), rho)
    return int(meas([float(s) for s in scores])), spent


def _within(make: Any, scale: float, d_in: Any, rho: float) -> tuple[Any, float]:
    """The measurement at ``scale`` or a hair above, so that OpenDP's own (conservatively
    rounded) privacy map stays within ``rho``."""
    for _ in range(60):
        meas = make(scale)
        spent = float(meas.map(d_in))
        if spent <= rho:
            return meas, spent
        scale *= 1 + 1e-9 + (spent / rho - 1)
    raise RuntimeError("OpenDP's measurement costs more than the rho it was built for.")  # pragma: no cover


def bound_contributions(ids: np.ndarray, contributions: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted row indices keeping at most ``contributions`` rows per person, chosen at random
    (which rows are kept is not private information; how many people there are is not
    released)."""
    if isinstance(contributions, bool) or not isinstance(contributions, (int, np.integer)) or contributions < 1:
        raise ConfigurationError(f"contributions must be an int >= 1. Got {contributions!r} instead.")
    return _bound_rows(np.asarray(ids), int(contributions), rng)
