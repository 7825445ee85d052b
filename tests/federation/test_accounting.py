"""The accountant against the exact privacy curve of composed Gaussian mechanisms (Balle and
Wang 2018), refusals that record nothing, and ClusterDP's noise measured in the unsafe
direction (never less than the accounted standard deviation)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.stats import norm

from secured.exceptions import ConfigurationError, PrivacyBudgetError
from secured.federation import FedAvg, Median, Update
from secured.federation.accounting import ClusterDP, PrivacyAccountant, gaussian_noise


def _exact_epsilon(mu: float, delta: float) -> float:
    """Smallest epsilon with delta(epsilon) <= delta for the mu-GDP Gaussian mechanism."""
    def d(eps):
        return norm.cdf(-eps / mu + mu / 2) - math.exp(eps) * norm.cdf(-eps / mu - mu / 2)
    lo, hi = 0.0, 100.0
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if d(mid) <= delta else (mid, hi)
    return hi


@pytest.mark.parametrize("rounds, sigma", [(10, 2.0), (50, 4.0), (1, 1.0)])
def test_full_participation_matches_the_exact_gaussian_curve(tmp_path, rounds, sigma):
    exact = _exact_epsilon(math.sqrt(rounds) / sigma, 1e-5)
    rdp = PrivacyAccountant(tmp_path / f"r{rounds}.json", delta=1e-5, max_epsilon=100)
    pld = PrivacyAccountant(tmp_path / f"p{rounds}.json", delta=1e-5, max_epsilon=100, method="pld")
    e_rdp = rdp.charge(rounds=rounds, noise_multiplier=sigma)
    e_pld = pld.charge(rounds=rounds, noise_multiplier=sigma)
    assert e_rdp >= exact * (1 - 1e-6)            # an upper bound: never below the true epsilon
    assert e_pld >= exact * (1 - 2e-3) and e_pld <= exact * 1.05


def test_refusal_records_nothing_and_the_ledger_reloads(tmp_path):
    path = tmp_path / "ledger.json"
    acc = PrivacyAccountant(path, delta=1e-5, max_epsilon=2.0)
    first = acc.charge(rounds=5, noise_multiplier=6.0, label="r1-5")
    before = path.read_bytes()
    with pytest.raises(PrivacyBudgetError, match="nothing was run"):
        acc.charge(rounds=500, noise_multiplier=1.0)
    assert path.read_bytes() == before
    again = PrivacyAccountant(path, delta=1e-5, max_epsilon=2.0)
    assert again.epsilon() == pytest.approx(first) and len(json.loads(before)["entries"]) == 1
    with pytest.raises(ConfigurationError, match="another delta"):
        PrivacyAccountant(path, delta=1e-6, max_epsilon=2.0)


def test_subsampling_amplifies():
    from pathlib import Path
    import tempfile

    d = Path(tempfile.mkdtemp())
    full = PrivacyAccountant(d / "a.json", delta=1e-5, max_epsilon=1000).charge(rounds=100, noise_multiplier=1.0)
    sampled = PrivacyAccountant(d / "b.json", delta=1e-5, max_epsilon=100).charge(
        rounds=100, noise_multiplier=1.0, sampling_rate=0.1)
    assert sampled < full / 3


def test_discrete_gaussian_noise_has_the_claimed_spread():
    x = gaussian_noise(200_000, 0.5)
    assert abs(x.mean()) < 0.01
    assert x.std() >= 0.5 * 0.99                   # unsafe direction: not less noise than accounted
    assert x.std() <= 0.5 * 1.01
    assert np.allclose(x * 2 ** 16, np.round(x * 2 ** 16))


def test_cluster_dp_clips_averages_and_adds_calibrated_noise(tmp_path):
    rng = np.random.default_rng(0)
    current = [np.zeros(20000)]
    ups = [Update([rng.normal(size=20000)], int(rng.integers(1, 100)), f"c{i}") for i in range(5)]
    acc = PrivacyAccountant(tmp_path / "l.json", delta=1e-5, max_epsilon=50)
    dp = ClusterDP(FedAvg(), clip=1.0, noise_multiplier=2.0, expected_clients=5, accountant=acc)
    out = dp.aggregate(1, ups, current)[0]
    clipped = [u.params[0] * min(1.0, 1.0 / np.linalg.norm(u.params[0])) for u in ups]
    noise = out - np.sum(clipped, axis=0) / 5
    assert noise.std() >= 2.0 * 1.0 / 5 * 0.98     # sigma * clip / clients, measured
    assert noise.std() <= 2.0 * 1.0 / 5 * 1.02
    assert len(acc.entries) == 1 and acc.entries[0]["unit"] == "cluster"
    with pytest.raises(ConfigurationError, match="linear"):
        ClusterDP(Median(), clip=1.0, noise_multiplier=1.0, expected_clients=5, accountant=acc)
    tight = PrivacyAccountant(tmp_path / "t.json", delta=1e-5, max_epsilon=0.01)
    with pytest.raises(PrivacyBudgetError):
        ClusterDP(FedAvg(), clip=1.0, noise_multiplier=1.0, expected_clients=5, accountant=tight).aggregate(
            1, ups, current)
