"""Aggregation strategies: a small ``Strategy`` base and the published rules on top of it.

A model's parameters are a list of numpy arrays (``Params``). Each round a strategy
configures the clients (``configure_round``), aggregates their updates into new global
parameters (``aggregate``) and may evaluate them (``evaluate``). An ``Update`` is a client's
parameters after local training with the number of examples it trained on.

Linear strategies (``linear = True``) need only the weighted sum of the updates, so they run
under secure aggregation or over SMPC-shared cluster updates (``aggregate_sum``): FedAvg
(McMahan et al. 2017, weighted by examples), FedAvgM (Hsu et al. 2019, server momentum on
the pseudo-gradient current - average), FedProx (Li et al. 2020: FedAvg on the server, the
proximal term mu/2 ||w - w_global||^2 in the clients' training, passed in the round's config)
and the adaptive server optimizers of Reddi et al. 2021 (FedAdagrad, FedAdam, FedYogi, on the
delta average - current, with the paper's update rules and no bias correction).

Robust strategies need each update (``linear = False``): coordinate-wise median and trimmed
mean (Yin et al. 2018), Krum and Multi-Krum (Blanchard et al. 2017; El Mhamdi et al. 2018).
They cannot be combined with secure aggregation unless they are computed under SMPC.
``NormBound`` (Sun et al. 2019) wraps any strategy and scales each update's delta to at most
``max_norm``; ``clip_update`` is the same bound for a client to apply before masking.

Updates are checked before anything is aggregated: same number of arrays, shapes and dtypes
as the current model, finite values, a positive number of examples; errors name the client
and the array index, never a value. The sums are streamed: an iterator of updates is
accumulated one update at a time in float64, never stacked (the robust rules stack one chunk
of coordinates at a time).

>>> import numpy as np
>>> current = [np.zeros(3)]
>>> updates = [Update([np.array([1.0, 2.0, 3.0])], 1, "a"), Update([np.array([3.0, 2.0, 1.0])], 3, "b")]
>>> FedAvg().aggregate(1, updates, current)[0]
array([2.5, 2. , 1.5])
"""

from __future__ import annotations

import abc
import math
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from ..exceptions import BadInputError, ConfigurationError

__all__ = ["Params", "Update", "Strategy", "FedAvg", "FedAvgM", "FedProx", "FedAdagrad", "FedAdam", "FedYogi",
           "Median", "TrimmedMean", "Krum", "NormBound", "clip_update", "check_update", "STRATEGIES", "build"]

Params = list


@dataclass(frozen=True)
class Update:
    """A client's parameters after local training and the number of examples it used."""

    params: Sequence[np.ndarray]
    num_examples: int
    client: str = "client"


def check_update(update: Any, current: Sequence[np.ndarray]) -> Update:
    """The update, checked against the current model (see the module)."""
    if not isinstance(update, Update):
        raise BadInputError("Each update must be a secured.federation.Update(params, num_examples, client).")
    who = f"client {update.client!r}" if isinstance(update.client, str) and len(update.client) <= 64 else "a client"
    n = update.num_examples
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n <= 0:
        raise BadInputError(f"The update of {who} must give a positive whole number of examples.")
    params = list(update.params)
    if len(params) != len(current):
        raise BadInputError(f"The update of {who} has {len(params)} arrays; the model has {len(current)}.")
    for i, (p, c) in enumerate(zip(params, current)):
        if not isinstance(p, np.ndarray):
            raise BadInputError(f"Array {i} of the update of {who} is not a numpy array.")
        if p.shape != c.shape:
            raise BadInputError(f"Array {i} of the update of {who} has shape {p.shape}; the model's is {c.shape}.")
        if p.dtype != c.dtype:
            raise BadInputError(f"Array {i} of the update of {who} has dtype {p.dtype}; the model's is {c.dtype}.")
        if not np.isfinite(p).all():
            raise BadInputError(f"Array {i} of the update of {who} holds NaN or infinite values.")
    return update


def _check_current(current: Any) -> list[np.ndarray]:
    if not isinstance(current, (list, tuple)) or not current or not all(isinstance(c, np.ndarray) for c in current):
        raise BadInputError("The current model must be a non-empty list of numpy arrays.")
    for c in current:
        if not np.issubdtype(c.dtype, np.floating):
            raise BadInputError("Model parameters must be floating-point arrays.")
    return list(current)


def _number(owner: str, name: str, value: Any, low: float, high: float = math.inf, *, low_open: bool = False,
            high_open: bool = False) -> float:
    ok = not isinstance(value, bool) and isinstance(value, (int, float, np.floating)) and math.isfinite(float(value))
    if ok:
        v = float(value)
        ok = (v > low if low_open else v >= low) and (v < high if high_open else v <= high)
    if not ok:
        left, right = "(" if low_open else "[", ")" if high_open else "]"
        raise ConfigurationError(f"The {name!r} parameter of {owner} must be a number in the range "
                                 f"{left}{low:g}, {high:g}{right}.")
    return float(value)


class Strategy(abc.ABC):
    """Base: ``configure_round``, ``aggregate``, ``evaluate``; linear strategies also
    ``aggregate_sum`` (from the weighted sum alone)."""

    linear = False
    name = "strategy"

    def __init__(self, evaluate_fn: Callable[[int, list[np.ndarray]], dict] | None = None) -> None:
        self.evaluate_fn = evaluate_fn

    def configure_round(self, rnd: int, clients: Sequence[str]) -> dict[str, Any]:
        """What each client is told for round ``rnd`` (e.g. FedProx's proximal mu)."""
        return {}

    @abc.abstractmethod
    def aggregate(self, rnd: int, updates: Iterable[Update], current: Sequence[np.ndarray]) -> list[np.ndarray]:
        """New global parameters from the round's updates."""

    def evaluate(self, rnd: int, params: Sequence[np.ndarray]) -> dict | None:
        return None if self.evaluate_fn is None else self.evaluate_fn(rnd, list(params))

    def state(self) -> dict[str, Any]:
        """The server state between rounds (momentum, moments), for resuming a run."""
        return {}

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore ``state()``."""


def weighted_sum(updates: Iterable[Update], current: Sequence[np.ndarray]) -> tuple[list[np.ndarray], float, int]:
    """Sum of n_i * params_i in float64, the total n, and the number of updates; streamed
    (one product buffer per array, reused: no per-update allocation)."""
    current = _check_current(current)
    total = [np.zeros(c.shape, dtype=np.float64) for c in current]
    scratch = [np.empty(c.shape, dtype=c.dtype) for c in current]
    weight, count, seen = 0.0, 0, set()
    for update in updates:
        check_update(update, current)
        if update.client in seen:
            raise BadInputError(f"Client {update.client!r} sent two updates in one round.")
        seen.add(update.client)
        n = update.num_examples
        for acc, buf, p in zip(total, scratch, update.params):
            np.multiply(p, p.dtype.type(n), out=buf)
            np.add(acc, buf, out=acc)
        weight += float(n)
        count += 1
    if count == 0:
        raise BadInputError("No update to aggregate: every client failed or none was selected.")
    return total, weight, count


class FedAvg(Strategy):
    """Average of the clients' parameters weighted by their examples."""

    linear = True
    name = "fedavg"

    def aggregate(self, rnd, updates, current):
        total, weight, _ = weighted_sum(updates, current)
        return self.aggregate_sum(rnd, total, weight, current)

    def aggregate_sum(self, rnd: int, total: Sequence[np.ndarray], weight: float,
                      current: Sequence[np.ndarray]) -> list[np.ndarray]:
        """New parameters from sum_i n_i params_i and sum_i n_i (what secure aggregation gives)."""
        if not weight > 0:
            raise BadInputError("The total number of examples must be positive.")
        average = [t / weight for t in total]
        return [a.astype(c.dtype, copy=False) for a, c in zip(self._server_step(average, current), current)]

    def _server_step(self, average: list[np.ndarray], current: Sequence[np.ndarray]) -> list[np.ndarray]:
        return average


class FedProx(FedAvg):
    """FedAvg on the server; clients minimize their loss + mu/2 ||w - w_global||^2."""

    name = "fedprox"

    def __init__(self, proximal_mu: float = 0.01, evaluate_fn=None) -> None:
        super().__init__(evaluate_fn)
        self.proximal_mu = _number("FedProx", "proximal_mu", proximal_mu, 0.0)

    def configure_round(self, rnd, clients):
        return {"proximal_mu": self.proximal_mu}


class FedAvgM(FedAvg):
    """Server momentum: v = beta v + (current - average); new = current - server_lr v."""

    name = "fedavgm"

    def __init__(self, server_lr: float = 1.0, momentum: float = 0.9, evaluate_fn=None) -> None:
        super().__init__(evaluate_fn)
        self.server_lr = _number("FedAvgM", "server_lr", server_lr, 0.0, low_open=True)
        self.momentum = _number("FedAvgM", "momentum", momentum, 0.0, 1.0, high_open=True)
        self.velocity_: list[np.ndarray] | None = None

    def _server_step(self, average, current):
        pseudo = [c.astype(np.float64) - a for c, a in zip(current, average)]
        if self.velocity_ is None:
            self.velocity_ = pseudo
        else:
            self.velocity_ = [self.momentum * v + g for v, g in zip(self.velocity_, pseudo)]
        return [c.astype(np.float64) - self.server_lr * v for c, v in zip(current, self.velocity_)]

    def state(self):
        return {"velocity": self.velocity_}

    def load_state(self, state):
        self.velocity_ = state.get("velocity")


class _FedOpt(FedAvg, abc.ABC):
    """Reddi et al. 2021: delta = average - current; m = beta1 m + (1 - beta1) delta;
    v by the optimizer's rule; new = current + eta m / (sqrt(v) + tau)."""

    def __init__(self, eta: float = 0.1, beta_1: float = 0.9, beta_2: float = 0.99, tau: float = 1e-3,
                 evaluate_fn=None) -> None:
        super().__init__(evaluate_fn)
        owner = type(self).__name__
        self.eta = _number(owner, "eta", eta, 0.0, low_open=True)
        self.beta_1 = _number(owner, "beta_1", beta_1, 0.0, 1.0, high_open=True)
        self.beta_2 = _number(owner, "beta_2", beta_2, 0.0, 1.0, high_open=True)
        self.tau = _number(owner, "tau", tau, 0.0, low_open=True)
        self.m_: list[np.ndarray] | None = None
        self.v_: list[np.ndarray] | None = None

    @abc.abstractmethod
    def _second_moment(self, v: np.ndarray, d2: np.ndarray) -> np.ndarray:
        """The optimizer's update of the second moment v from delta^2."""

    def _server_step(self, average, current):
        delta = [a - c.astype(np.float64) for a, c in zip(average, current)]
        if self.m_ is None:
            self.m_ = [np.zeros_like(d) for d in delta]
            self.v_ = [np.full_like(d, self.tau ** 2) for d in delta]
        self.m_ = [self.beta_1 * m + (1 - self.beta_1) * d for m, d in zip(self.m_, delta)]
        self.v_ = [self._second_moment(v, d * d) for v, d in zip(self.v_, delta)]
        return [c.astype(np.float64) + self.eta * m / (np.sqrt(v) + self.tau)
                for c, m, v in zip(current, self.m_, self.v_)]

    def state(self):
        return {"m": self.m_, "v": self.v_}

    def load_state(self, state):
        self.m_, self.v_ = state.get("m"), state.get("v")


class FedAdagrad(_FedOpt):
    """v = v + delta^2."""

    name = "fedadagrad"

    def _second_moment(self, v, d2):
        return v + d2


class FedAdam(_FedOpt):
    """v = beta2 v + (1 - beta2) delta^2."""

    name = "fedadam"

    def _second_moment(self, v, d2):
        return self.beta_2 * v + (1 - self.beta_2) * d2


class FedYogi(_FedOpt):
    """v = v - (1 - beta2) delta^2 sign(v - delta^2)."""

    name = "fedyogi"

    def _second_moment(self, v, d2):
        return v - (1 - self.beta_2) * d2 * np.sign(v - d2)


def _stacked(updates: Iterable[Update], current: Sequence[np.ndarray]) -> list[Update]:
    current = _check_current(current)
    out, seen = [], set()
    for update in updates:
        check_update(update, current)
        if update.client in seen:
            raise BadInputError(f"Client {update.client!r} sent two updates in one round.")
        seen.add(update.client)
        out.append(update)
    if not out:
        raise BadInputError("No update to aggregate: every client failed or none was selected.")
    return out


def _coordinatewise(updates: list[Update], current, reduce: Callable[[np.ndarray], np.ndarray],
                    chunk: int = 1 << 20) -> list[np.ndarray]:
    """Apply ``reduce`` (on a (clients, coordinates) block) chunk by chunk of each array."""
    out = []
    for i, c in enumerate(current):
        flat = [np.asarray(u.params[i]).reshape(-1) for u in updates]
        result = np.empty(c.size, dtype=np.float64)
        for start in range(0, c.size, chunk):
            block = np.stack([f[start:start + chunk] for f in flat])
            result[start:start + chunk] = reduce(block)
        out.append(result.reshape(c.shape).astype(c.dtype, copy=False))
    return out


class Median(Strategy):
    """Coordinate-wise median of the updates (unweighted; the mean of the two middle values
    for an even number)."""

    name = "median"

    def aggregate(self, rnd, updates, current):
        ups = _stacked(updates, current)
        n = len(ups)

        def median(block):
            s = np.sort(block, axis=0)      # a vectorized sort of n values per coordinate beats partition here
            return (s[(n - 1) // 2].astype(np.float64) + s[n // 2]) / 2

        return _coordinatewise(ups, current, median)


class TrimmedMean(Strategy):
    """Coordinate-wise mean after dropping the ``beta`` fraction of largest and of smallest
    values (floor(beta * n) each side)."""

    name = "trimmed_mean"

    def __init__(self, beta: float = 0.1, evaluate_fn=None) -> None:
        super().__init__(evaluate_fn)
        self.beta = _number("TrimmedMean", "beta", beta, 0.0, 0.5, high_open=True)

    def aggregate(self, rnd, updates, current):
        ups = _stacked(updates, current)
        k = int(math.floor(self.beta * len(ups)))

        def trim(block):
            if k == 0:
                return block.mean(axis=0, dtype=np.float64)
            return np.sort(block, axis=0)[k:len(ups) - k].mean(axis=0, dtype=np.float64)

        return _coordinatewise(ups, current, trim)


class Krum(Strategy):
    """Krum (``keep=1``) or Multi-Krum: score_i = sum of squared distances from update i to its
    n - f - 2 nearest others; the ``keep`` lowest-scored updates are averaged (unweighted)."""

    name = "krum"

    def __init__(self, byzantine: int = 1, keep: int = 1, evaluate_fn=None) -> None:
        super().__init__(evaluate_fn)
        for name, value, low in (("byzantine", byzantine, 0), ("keep", keep, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigurationError(f"The {name!r} parameter of Krum must be an int in the range [{low}, inf).")
        self.byzantine, self.keep = byzantine, keep

    def scores(self, updates: list[Update]) -> np.ndarray:
        n = len(updates)
        gram = np.zeros((n, n))
        for i in range(len(updates[0].params)):
            flat = np.stack([np.asarray(u.params[i], dtype=np.float64).reshape(-1) for u in updates])
            gram += flat @ flat.T
        sq = np.diag(gram)
        dist = np.maximum(sq[:, None] + sq[None, :] - 2 * gram, 0.0)
        closest = n - self.byzantine - 2
        out = np.empty(n)
        for i in range(n):
            others = np.sort(np.delete(dist[i], i))
            out[i] = others[:closest].sum()
        return out

    def aggregate(self, rnd, updates, current):
        ups = _stacked(updates, current)
        n = len(ups)
        if n - self.byzantine - 2 < 1 or self.keep > n:
            raise BadInputError(f"Krum with byzantine={self.byzantine} and keep={self.keep} needs at least "
                                f"{max(self.byzantine + 3, self.keep)} updates; {n} arrived.")
        chosen = np.argsort(self.scores(ups), kind="stable")[:self.keep]
        self.selected_ = [ups[i].client for i in chosen]
        return [np.mean([np.asarray(ups[i].params[j], dtype=np.float64) for i in chosen], axis=0).astype(c.dtype)
                for j, c in enumerate(current)]


def clip_update(update: Update, current: Sequence[np.ndarray], max_norm: float) -> Update:
    """The update with its delta (params - current) scaled to L2 norm at most ``max_norm``."""
    check_update(update, current)
    delta = [p.astype(np.float64) - c.astype(np.float64) for p, c in zip(update.params, current)]
    norm = math.sqrt(sum(float(np.dot(d.reshape(-1), d.reshape(-1))) for d in delta))
    scale = min(1.0, max_norm / norm) if norm > 0 else 1.0
    params = [(c.astype(np.float64) + scale * d).astype(c.dtype) for c, d in zip(current, delta)]
    return Update(params, update.num_examples, update.client)


class NormBound(Strategy):
    """Wraps a strategy: every update's delta is bounded to ``max_norm`` first."""

    name = "norm_bound"

    def __init__(self, strategy: Strategy, max_norm: float) -> None:
        if not isinstance(strategy, Strategy):
            raise ConfigurationError("NormBound wraps a secured.federation strategy.")
        super().__init__(strategy.evaluate_fn)
        self.strategy = strategy
        self.max_norm = _number("NormBound", "max_norm", max_norm, 0.0, low_open=True)
        self.linear = strategy.linear

    def configure_round(self, rnd, clients):
        return {**self.strategy.configure_round(rnd, clients), "max_update_norm": self.max_norm}

    def aggregate(self, rnd, updates, current):
        return self.strategy.aggregate(rnd, (clip_update(u, current, self.max_norm) for u in updates), current)

    def aggregate_sum(self, rnd, total, weight, current):
        """Under secure aggregation the clients bounded their own updates (``clip_update``)."""
        return self.strategy.aggregate_sum(rnd, total, weight, current)

    def state(self):
        return self.strategy.state()

    def load_state(self, state):
        self.strategy.load_state(state)


STRATEGIES: dict[str, type[Strategy]] = {cls.name: cls for cls in (FedAvg, FedAvgM, FedProx, FedAdagrad, FedAdam,
                                                                     FedYogi, Median, TrimmedMean, Krum)}


def build(name: str, **options: Any) -> Strategy:
    """A strategy by name with its options; unknown names and options are refused."""
    import inspect

    if name not in STRATEGIES:
        raise ConfigurationError(f"Unknown strategy; use one of {', '.join(sorted(STRATEGIES))}.")
    cls = STRATEGIES[name]
    allowed = set(inspect.signature(cls.__init__).parameters) - {"self", "evaluate_fn"}
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise ConfigurationError(f"Unknown option(s) {unknown} for strategy {name}; it takes {sorted(allowed)}.")
    return cls(**options)
