"""Federated runs: a failed round is recorded and resumed to the same result as a run that
never failed (server state included), slow and failing clients are left out by category,
nothing half-written, FedProx's term reaches local training."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from secured.exceptions import ConfigurationError, RoundFailedError
from secured.federation import FedAvg, FedAvgM, FedProx, Federation, TorchClient, Update


def _clients(flaky: dict):
    def make(k):
        def client(rnd, params, config):
            if flaky.get((k, rnd)):
                raise ValueError("secret cell 123 in a library message")
            return Update([params[0] * 0.5 + k, params[1] - k], 10 + k, f"c{k}")
        return client
    return {f"c{k}": make(k) for k in range(4)}


def _initial():
    return [np.ones((3, 2)), np.zeros(2)]


def test_a_failed_round_resumes_to_the_uninterrupted_result(tmp_path):
    clean = Federation(FedAvgM(momentum=0.5), _clients({}), initial=_initial(), rounds=4, run_dir=tmp_path / "a").run()
    flaky = {(2, 3): True}
    fed = Federation(FedAvgM(momentum=0.5), _clients(flaky), initial=_initial(), rounds=4, run_dir=tmp_path / "b")
    with pytest.raises(RoundFailedError, match="Round 3"):
        fed.run()
    status = json.loads((tmp_path / "b" / "run.json").read_text())
    assert status["status"] == "failed" and status["rounds_completed"] == 2
    failed = status["records"][-1]
    assert failed["failures"] == [{"client": "c2", "reason": "ValueError"}]
    assert "123" not in (tmp_path / "b" / "run.json").read_text()
    flaky.clear()    # the client is back; a new process resumes from the folder
    resumed = Federation(FedAvgM(momentum=0.5), _clients({}), initial=_initial(), rounds=4,
                         run_dir=tmp_path / "b").run()
    for a, b in zip(clean["params"], resumed["params"]):
        assert np.array_equal(a, b)
    assert [r["round"] for r in resumed["record"]["records"]] == [1, 2, 3, 4]


def test_slow_and_failing_clients_are_left_out(tmp_path):
    def slow(rnd, params, config):
        time.sleep(3)
        return Update(params, 1, "slow")

    clients = {**_clients({(1, 1): True}), "slow": slow}
    out = Federation(FedAvg(), clients, initial=_initial(), rounds=1, run_dir=tmp_path, min_clients=3,
                     timeout=1.5).run()
    record = out["record"]["records"][0]
    assert record["participants"] == ["c0", "c2", "c3"]
    assert {"client": "slow", "reason": "timeout"} in record["failures"]
    assert {"client": "c1", "reason": "ValueError"} in record["failures"]


def test_settings_are_checked(tmp_path):
    with pytest.raises(ConfigurationError, match="min_clients"):
        Federation(FedAvg(), _clients({}), initial=_initial(), rounds=1, run_dir=tmp_path, min_clients=9)
    Federation(FedAvg(), _clients({}), initial=_initial(), rounds=1, run_dir=tmp_path).run()
    with pytest.raises(ConfigurationError, match="another run"):
        Federation(FedAvg(), _clients({}), initial=_initial(), rounds=3, run_dir=tmp_path).run()


def test_fedprox_term_reaches_local_training(tmp_path):
    import torch

    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.float32)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 1))
    start = [p.detach().numpy().copy() for p in net.parameters()]
    client = TorchClient("h", net, x, y, epochs=3, lr=0.5)
    free = client(1, start, {})
    prox = client(1, start, {"proximal_mu": 1.5})
    dist = lambda u: sum(np.linalg.norm(a - b) for a, b in zip(u.params, start))  # noqa: E731
    assert dist(prox) < 0.5 * dist(free)      # the proximal term keeps the update near the global model
    out = Federation(FedProx(proximal_mu=1.0), {"h": client}, initial=start, rounds=2, run_dir=tmp_path).run()
    assert out["record"]["status"] == "completed"
