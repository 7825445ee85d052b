"""FedAvg over SMPC clusters: the securely summed models equal plaintext FedAvg of the
clusters' models within fixed point, and no party, cluster or the aggregator receives one
cluster's model in plaintext (every message between parties and every masked vector the
aggregator receives is inspected)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from secured.exceptions import ConfigurationError, PartyRefused
from secured.federation import Median
from secured.federation.smpc import SMPCCluster, secure_cluster_sum, smpc_round
from secured.mpc import Session
from secured.mpc.secagg import SecAggServer
from secured.mpc.training import PrivateTrainer


def _tables(seed, n=60):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    y = (x[:, 0] - x[:, 2] > 0).astype(float)
    t = pd.DataFrame(x, columns=["a", "b", "c"]).assign(y=y)
    return [t.iloc[: n // 2], t.iloc[n // 2:]]


def _template():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 1)).double()


def test_fedavg_over_clusters_equals_plaintext_and_opens_nothing():
    seen: dict[int, list] = {0: [], 1: [], 2: []}
    sessions = [Session(2, observer=lambda s, d, arrays, k=k: seen[k].extend(arrays)) for k in range(3)]
    try:
        clusters = [SMPCCluster(f"c{k}", PrivateTrainer(s, _tables(k, 40 + 20 * k), label="y"), epochs=1,
                                batch_size=20, lr=0.5) for k, s in enumerate(sessions)]
        template = _template()
        params = [p.detach().numpy().copy() for p in template.parameters()]
        models = [c.train(template, params) for c in clusters]
        weights = [c.trainer.n_rows for c in clusters]
        during = {k: len(v) for k, v in seen.items()}
        server = SecAggServer(4, 4, ring_bits=64)
        total = secure_cluster_sum(clusters, models, weights, server=server)
        # reference, opened only here in the test after the round: each cluster's model
        opened = [np.concatenate([s.reveal_ring(p).reshape(-1) for p in m]) for s, m in zip(sessions, models)]
        plain = [np.concatenate([p.reveal().reshape(-1) for p in m]) for m in models]
        expected = sum(w * p for w, p in zip(weights, plain))
        assert np.abs(total - expected).max() < 3 * 2.0 ** -16 * sum(weights)
        fedavg = total / sum(weights)
        assert np.abs(fedavg - expected / sum(weights)).max() < 1e-3
        # no message between parties during the secure sum, nor any masked vector the aggregator
        # got, equals a cluster's model in the ring (scaled by its weight or not)
        encoded = [o.astype(np.uint64) for o in opened]
        scaled = [(e * np.uint64(w)) for e, w in zip(encoded, weights)]
        for k in seen:
            for msg in seen[k][during[k]:]:
                for e in encoded + scaled:
                    if np.asarray(msg).shape == e.shape:
                        assert not np.any(np.asarray(msg) == e)
        masked = [p for kind, _, p in server.seen if kind == "masked"]
        assert len(masked) == 6
        for y in masked:
            for e in encoded + scaled:
                assert not np.any(y == e)
        # the aggregator learned self-mask seeds of survivors only, no party's key
        assert server.revealed_s_ == [] and server.revealed_b_ == list(range(1, 7))
    finally:
        for s in sessions:
            s.close()


def test_parties_refuse_a_sum_that_would_open_their_cluster():
    sessions = [Session(2) for _ in range(2)]
    try:
        clusters = [SMPCCluster(f"c{k}", PrivateTrainer(s, _tables(k), label="y"), batch_size=30)
                    for k, s in enumerate(sessions)]
        template = _template()
        params = [p.detach().numpy().copy() for p in template.parameters()]
        model = clusters[0].train(template, params)
        with pytest.raises(ConfigurationError, match="two clusters"):
            secure_cluster_sum(clusters[:1], [model], [10])
        # a roster of one cluster only: its parties refuse to take part
        s = sessions[0]
        keys = dict(zip([1, 2], s.party_call("secagg_advertise", [(1, 4, 2), (2, 4, 2)])))
        with pytest.raises(PartyRefused, match="other clusters"):
            s.party_call("secagg_share_keys", [(keys,)] * 2)
        # a private input is never put into a secure sum
        s.load(0, "secret", lambda: np.array([[1.0, 2.0]]))
        x = s.input_from(0, "secret")
        with pytest.raises(PartyRefused, match="private input"):
            s.party_call("secagg_masked", [(1, [1, 2, 3], ("#id", x._id))] * 2)
        with pytest.raises(ConfigurationError, match="linear"):
            smpc_round(1, clusters, template, params, strategy=Median())
    finally:
        for s in sessions:
            s.close()


def test_rounds_learn():
    sessions = [Session(2) for _ in range(3)]
    try:
        clusters = [SMPCCluster(f"c{k}", PrivateTrainer(s, _tables(k, 80), label="y"), epochs=2, batch_size=20,
                                lr=0.5) for k, s in enumerate(sessions)]
        template = _template()
        params = [p.detach().numpy().copy() for p in template.parameters()]
        for rnd in (1, 2, 3):
            params, record = smpc_round(rnd, clusters, template, params)
        x = np.vstack([pd.concat(_tables(k, 80))[["a", "b", "c"]].to_numpy() for k in range(3)])
        y = np.concatenate([pd.concat(_tables(k, 80))["y"].to_numpy() for k in range(3)])
        score = x @ params[0].reshape(-1) + params[1]
        assert ((score > 0) == (y > 0.5)).mean() > 0.85
        assert record["rows"] == [80, 80, 80]
    finally:
        for s in sessions:
            s.close()


def test_clusters_of_ray_party_actors(ray_runtime):
    from secured.cluster import RaySession

    sessions = [RaySession(2) for _ in range(2)]
    try:
        clusters = [SMPCCluster(f"c{k}", PrivateTrainer(s, _tables(k, 40), label="y"), batch_size=20, lr=0.5)
                    for k, s in enumerate(sessions)]
        template = _template()
        params = [p.detach().numpy().copy() for p in template.parameters()]
        models = [c.train(template, params) for c in clusters]
        total = secure_cluster_sum(clusters, models, [40, 40])
        plain = sum(40 * np.concatenate([p.reveal().reshape(-1) for p in m]) for m in models)
        assert np.abs(total - plain).max() < 1e-2
    finally:
        for s in sessions:
            s.close()


def test_record_level_dp_rounds_are_charged(tmp_path):
    from secured.exceptions import PrivacyBudgetError
    from secured.federation import PrivacyAccountant

    sessions = [Session(2) for _ in range(2)]
    try:
        dp = {"sampling_rate": 0.25, "clip": 1.0, "noise_multiplier": 1.5}
        clusters = [SMPCCluster(f"c{k}", PrivateTrainer(s, _tables(k, 80), label="y"), epochs=1, lr=0.5, dp=dp)
                    for k, s in enumerate(sessions)]
        template = _template()
        params = [p.detach().numpy().copy() for p in template.parameters()]
        with pytest.raises(ConfigurationError, match="accountant"):
            smpc_round(1, clusters, template, params)
        acc = PrivacyAccountant(tmp_path / "l.json", delta=1e-5, max_epsilon=20.0)
        params, record = smpc_round(1, clusters, template, params, accountant=acc)
        assert acc.entries[0]["rounds"] == 4 and acc.entries[0]["unit"] == "record"
        assert record["epsilon"] == pytest.approx(acc.epsilon())
        tight = PrivacyAccountant(tmp_path / "t.json", delta=1e-5, max_epsilon=0.5)
        with pytest.raises(PrivacyBudgetError):
            smpc_round(2, clusters, template, params, accountant=tight)
        assert tight.entries == []
    finally:
        for s in sessions:
            s.close()


class _Stalling(SMPCCluster):
    """A cluster one of whose parties stops answering at its ``stall_at``-th training."""

    def __init__(self, *args, stall_at=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.stall_at, self.calls = stall_at, 0

    def train(self, template, params):
        self.calls += 1
        if self.calls == self.stall_at:
            s = self.trainer.session
            s._queues[1].put(None)
            s._threads[1].join()
        return super().train(template, params)


def test_a_cluster_timing_out_mid_round_fails_the_round_and_the_run_resumes(tmp_path):
    import json

    from secured.exceptions import RoundFailedError
    from secured.federation import SMPCFederation

    template = _template()
    initial = [p.detach().numpy().copy() for p in template.parameters()]

    def clusters(stall_at=None):
        sessions = [Session(2, timeout=4.0) for _ in range(2)]   # generous: only the stalled party times out
        out = [SMPCCluster("c0", PrivateTrainer(sessions[0], _tables(0, 40), label="y"), batch_size=20, lr=0.5),
               _Stalling("c1", PrivateTrainer(sessions[1], _tables(1, 40), label="y"), batch_size=20, lr=0.5,
                         stall_at=stall_at)]
        return sessions, out

    sessions, first = clusters(stall_at=2)
    try:
        fed = SMPCFederation(first, template, initial=initial, rounds=3, run_dir=tmp_path)
        with pytest.raises(RoundFailedError, match="cluster 'c1' failed"):
            fed.run()
    finally:
        for s in sessions:
            s.close()
    record = json.loads((tmp_path / "run.json").read_text())
    assert record["status"] == "failed" and record["rounds_completed"] == 1
    assert record["records"][-1]["failures"] == [{"client": "c1", "reason": "PartyTimeoutError"}]
    sessions, fresh = clusters()
    try:
        out = SMPCFederation(fresh, template, initial=initial, rounds=3, run_dir=tmp_path).run()
    finally:
        for s in sessions:
            s.close()
    assert out["record"]["status"] == "completed"
    assert [r["round"] for r in out["record"]["records"]] == [1, 2, 3]
    assert all(np.isfinite(p).all() for p in out["params"])
