"""Every strategy against a plain numpy recomputation of its published formula on recorded
updates (several rounds for the stateful ones), and bad updates refused by name."""

from __future__ import annotations

import numpy as np
import pytest

from secured.exceptions import BadInputError, ConfigurationError
from secured.federation import (FedAdagrad, FedAdam, FedAvg, FedAvgM, FedProx, FedYogi, Krum, Median, NormBound,
                                TrimmedMean, Update, build, clip_update)

SHAPES = [(4, 3), (3,), (2, 2, 2)]


def _rounds(n_rounds=3, n_clients=7, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_rounds):
        out.append([Update([rng.normal(size=s) for s in SHAPES], int(rng.integers(5, 50)), f"c{i}")
                    for i in range(n_clients)])
    return out


def _flat(params):
    return np.concatenate([p.reshape(-1) for p in params])


def _avg(updates):
    n = np.array([u.num_examples for u in updates], dtype=float)
    return sum(w * _flat(u.params) for w, u in zip(n, updates)) / n.sum()


def _run(strategy, rounds, start):
    current = [p.copy() for p in start]
    history = []
    for r, updates in enumerate(rounds, 1):
        current = strategy.aggregate(r, iter(updates), current)    # an iterator: streamed
        history.append(_flat(current))
    return history


@pytest.fixture
def start():
    rng = np.random.default_rng(42)
    return [rng.normal(size=s) for s in SHAPES]


def test_fedavg_and_fedprox(start):
    rounds = _rounds()
    for strategy in (FedAvg(), FedProx(proximal_mu=0.1)):
        for got, updates in zip(_run(strategy, rounds, start), rounds):
            assert np.max(np.abs(got - _avg(updates))) < 1e-9
    assert FedProx(proximal_mu=0.1).configure_round(1, ["a"]) == {"proximal_mu": 0.1}


def test_fedavgm(start):
    rounds = _rounds()
    got = _run(FedAvgM(server_lr=0.7, momentum=0.5), rounds, start)
    x, v = _flat(start), None
    for g, updates in zip(got, rounds):
        pseudo = x - _avg(updates)
        v = pseudo if v is None else 0.5 * v + pseudo
        x = x - 0.7 * v
        assert np.max(np.abs(g - x)) < 1e-9


@pytest.mark.parametrize("cls", [FedAdagrad, FedAdam, FedYogi])
def test_adaptive_server_optimizers(cls, start):
    rounds = _rounds(4)
    eta, b1, b2, tau = 0.05, 0.8, 0.95, 1e-2
    got = _run(cls(eta=eta, beta_1=b1, beta_2=b2, tau=tau), rounds, start)
    x = _flat(start)
    m, v = np.zeros_like(x), np.full_like(x, tau ** 2)
    for g, updates in zip(got, rounds):
        d = _avg(updates) - x
        m = b1 * m + (1 - b1) * d
        if cls is FedAdagrad:
            v = v + d * d
        elif cls is FedAdam:
            v = b2 * v + (1 - b2) * d * d
        else:
            v = v - (1 - b2) * d * d * np.sign(v - d * d)
        x = x + eta * m / (np.sqrt(v) + tau)
        assert np.max(np.abs(g - x)) < 1e-9


def test_median_and_trimmed_mean(start):
    rounds = _rounds(1, n_clients=10)
    ups = rounds[0]
    stack = np.stack([_flat(u.params) for u in ups])
    got = _flat(Median().aggregate(1, ups, start))
    assert np.max(np.abs(got - np.median(stack, axis=0))) < 1e-12
    got = _flat(TrimmedMean(beta=0.2).aggregate(1, ups, start))
    s = np.sort(stack, axis=0)
    assert np.max(np.abs(got - s[2:8].mean(axis=0))) < 1e-12
    got = _flat(TrimmedMean(beta=0.05).aggregate(1, ups, start))          # floor(0.5) = 0: the plain mean
    assert np.max(np.abs(got - stack.mean(axis=0))) < 1e-12


def test_krum_and_multi_krum(start):
    rng = np.random.default_rng(1)
    ups = [Update([rng.normal(scale=0.1, size=s) for s in SHAPES], 10, f"c{i}") for i in range(8)]
    ups += [Update([rng.normal(loc=50, size=s) for s in SHAPES], 10, f"bad{i}") for i in range(2)]
    vecs = np.stack([_flat(u.params) for u in ups])
    dist = ((vecs[:, None, :] - vecs[None, :, :]) ** 2).sum(axis=2)
    f = 2
    scores = np.array([np.sort(np.delete(dist[i], i))[: len(ups) - f - 2].sum() for i in range(len(ups))])
    krum = Krum(byzantine=f)
    got = _flat(krum.aggregate(1, ups, start))
    assert np.max(np.abs(got - vecs[np.argmin(scores)])) < 1e-9
    assert np.allclose(krum.scores(ups), scores, rtol=1e-9)
    multi = Krum(byzantine=f, keep=4)
    got = _flat(multi.aggregate(1, ups, start))
    assert np.max(np.abs(got - vecs[np.argsort(scores)[:4]].mean(axis=0))) < 1e-9
    assert not any(c.startswith("bad") for c in multi.selected_)
    with pytest.raises(BadInputError, match="needs at least"):
        Krum(byzantine=3).aggregate(1, ups[:4], start)


def test_norm_bound_scales_deltas(start):
    rounds = _rounds(1)
    bounded = NormBound(FedAvg(), max_norm=0.5)
    got = _flat(bounded.aggregate(1, rounds[0], start))
    x = _flat(start)
    clipped = []
    for u in rounds[0]:
        d = _flat(u.params) - x
        clipped.append(x + d * min(1.0, 0.5 / np.linalg.norm(d)))
    n = np.array([u.num_examples for u in rounds[0]], dtype=float)
    assert np.max(np.abs(got - (n[:, None] * np.stack(clipped)).sum(0) / n.sum())) < 1e-9
    one = clip_update(rounds[0][0], start, 0.5)
    assert np.linalg.norm(_flat(one.params) - x) == pytest.approx(0.5)


def test_float32_models_stay_float32():
    start = [np.zeros(5, dtype=np.float32)]
    ups = [Update([np.full(5, 1.0, dtype=np.float32)], 1, "a"), Update([np.full(5, 2.0, dtype=np.float32)], 1, "b")]
    out = FedAvg().aggregate(1, ups, start)
    assert out[0].dtype == np.float32 and np.allclose(out[0], 1.5)


@pytest.mark.parametrize("bad, words", [
    (Update([np.zeros((4, 2)), np.zeros(3), np.zeros((2, 2, 2))], 5, "h1"), "shape"),
    (Update([np.zeros((4, 3), dtype=np.float32), np.zeros(3), np.zeros((2, 2, 2))], 5, "h1"), "dtype"),
    (Update([np.full((4, 3), np.nan), np.zeros(3), np.zeros((2, 2, 2))], 5, "h1"), "NaN"),
    (Update([np.full((4, 3), np.inf), np.zeros(3), np.zeros((2, 2, 2))], 5, "h1"), "NaN or infinite"),
    (Update([np.zeros((4, 3)), np.zeros(3)], 5, "h1"), "2 arrays"),
    (Update([np.zeros((4, 3)), np.zeros(3), np.zeros((2, 2, 2))], 0, "h1"), "positive whole number"),
    ("not an update", "Update("),
])
def test_bad_updates_are_refused_by_client(bad, words, start):
    for strategy in (FedAvg(), Median(), TrimmedMean()):
        with pytest.raises(BadInputError) as info:
            strategy.aggregate(1, [Update([p.copy() for p in start], 3, "ok"), bad], start)
        assert words in str(info.value)
        if isinstance(bad, Update):
            assert "'h1'" in str(info.value)


def test_options_are_checked():
    with pytest.raises(ConfigurationError, match="Unknown strategy"):
        build("fedsgd")
    with pytest.raises(ConfigurationError, match="Unknown option"):
        build("fedavgm", learning_rate=1.0)
    with pytest.raises(ConfigurationError, match="momentum"):
        FedAvgM(momentum=1.5)
    with pytest.raises(ConfigurationError, match="beta"):
        TrimmedMean(beta=0.5)
    assert build("fedadam", eta=0.01).eta == 0.01
    with pytest.raises(BadInputError, match="two updates"):
        FedAvg().aggregate(1, [Update([np.zeros(2)], 1, "a"), Update([np.zeros(2)], 1, "a")], [np.zeros(2)])
    with pytest.raises(BadInputError, match="No update"):
        FedAvg().aggregate(1, [], [np.zeros(2)])
