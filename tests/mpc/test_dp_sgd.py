"""Record-level DP-SGD on shares: one step equals a plaintext DP-SGD step with exact
per-row clipping (noise negligible), and the noise the parties add together is never less
than the accounted standard deviation, whatever one party knows of its own part."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from secured.exceptions import ConfigurationError
from secured.mpc import Session
from secured.mpc.training import PrivateTrainer


def _table(n=120, f=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(scale=1.5, size=(n, f))
    y = (x[:, 0] + rng.normal(size=n) > 0).astype(float)
    return pd.DataFrame(x, columns=[f"x{i}" for i in range(f)]).assign(y=y)


def test_one_step_equals_plaintext_clipped_sgd():
    t = _table()
    torch.manual_seed(1)
    model = torch.nn.Linear(4, 1).double()
    w0, b0 = model.weight.detach().numpy().reshape(-1), float(model.bias.detach())
    clip, lr = 0.5, 0.8
    with Session(2) as s:
        out = PrivateTrainer(s, [t.iloc[:60], t.iloc[60:]], label="y").fit_dp(
            model, epochs=1, sampling_rate=1.0, clip=clip, noise_multiplier=1e-9, lr=lr, seed=0)
        w1 = out["parameters"][0].reveal().reshape(-1)
        b1 = float(out["parameters"][1].reveal()[0])
    x, y = t[["x0", "x1", "x2", "x3"]].to_numpy(), t["y"].to_numpy()
    err = 1 / (1 + np.exp(-(x @ w0 + b0))) - y
    g = np.column_stack([err[:, None] * x, err])                   # per-row gradients
    norms = np.linalg.norm(g, axis=1)
    clipped = g * np.minimum(1.0, 0.99 * clip / np.sqrt(norms ** 2 + (clip / 10) ** 2))[:, None]
    assert (np.linalg.norm(clipped, axis=1) <= clip).all()
    step = clipped.sum(axis=0) * lr / len(x)
    assert np.abs((w0 - w1) - step[:4]).max() < 5e-3 * np.abs(step).max() + 1e-3
    assert abs((b0 - b1) - step[4]) < 5e-3 * np.abs(step).max() + 1e-3
    assert out["steps"] == 1


@pytest.mark.parametrize("parties", [2, 3])
def test_noise_is_at_least_the_accounted_spread(parties):
    f, n = 2000, 50                      # 2,000 noise draws: the std within 10% is a 6-sigma bound
    t = pd.DataFrame(np.zeros((n, f)), columns=[f"x{i}" for i in range(f)]).assign(y=np.r_[np.ones(25), np.zeros(25)])
    model = torch.nn.Linear(f, 1).double()
    torch.nn.init.zeros_(model.weight)
    torch.nn.init.zeros_(model.bias)
    sigma, clip, lr = 2.0, 0.5, 1.0
    parts = np.array_split(np.arange(n), parties)
    with Session(parties) as s:
        out = PrivateTrainer(s, [t.iloc[p] for p in parts], label="y").fit_dp(
            model, epochs=1, sampling_rate=1.0, clip=clip, noise_multiplier=sigma, lr=lr, seed=0)
        w1 = out["parameters"][0].reveal().reshape(-1)
    noise = -w1 * n / lr                 # x = 0: the weight gradient is the noise alone
    accounted = sigma * clip
    assert noise.std() >= accounted * np.sqrt(parties / (parties - 1)) * 0.9
    assert noise.std() <= accounted * np.sqrt(parties / (parties - 1)) * 1.1


def test_settings_are_checked():
    t = _table()
    with Session(2) as s:
        tr = PrivateTrainer(s, [t.iloc[:60], t.iloc[60:]], label="y")
        with pytest.raises(ConfigurationError, match="Linear"):
            tr.fit_dp(torch.nn.Sequential(torch.nn.Linear(4, 1)), epochs=1, sampling_rate=0.1, clip=1.0,
                      noise_multiplier=1.0, lr=0.1)
        with pytest.raises(ConfigurationError, match="sampling_rate"):
            tr.fit_dp(torch.nn.Linear(4, 1).double(), epochs=1, sampling_rate=0.0, clip=1.0, noise_multiplier=1.0,
                      lr=0.1)
        with pytest.raises(ConfigurationError, match="takes 3 features"):
            tr.fit_dp(torch.nn.Linear(3, 1).double(), epochs=1, sampling_rate=0.1, clip=1.0, noise_multiplier=1.0,
                      lr=0.1)
