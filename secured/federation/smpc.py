"""Federation over SMPC clusters: each cluster trains the global model privately on its
parties' tables (``secured.mpc.training.PrivateTrainer``), and the clusters' models are summed
without being opened.

A cluster's trained model exists only as additive shares in Z_2^64 held by its parties. For
the aggregate, every party of every cluster joins one secure-aggregation round
(``secured.mpc.secagg`` in the 64-bit ring): it multiplies its shares by its cluster's
(public) number of rows and masks them with pair masks agreed with every other party. The
aggregator sums the masked vectors and learns sum_c n_c * model_c in fixed point, and nothing
else: not a cluster's model (its parties' shares summed), not a party's share. Parties refuse
a secure sum whose roster has no party outside their cluster, an unmasking in which only their
cluster survived, and a private input in a sum. The new global model is public (it is the
federation's output) and each cluster shares it again for the next round.

Weighted by rows, this is FedAvg (or any linear strategy through ``aggregate_sum``) with the
fixed-point error of the clusters' sessions (2^-fractional_bits per value).
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..exceptions import ConfigurationError, IntegrityError, PrivacyBudgetError, RoundFailedError, SecuredError
from ..mpc.secagg import SecAggServer
from ..progress import Progress, emit
from .run import Federation
from .strategies import FedAvg, Strategy

__all__ = ["SMPCCluster", "SMPCFederation", "secure_cluster_sum", "smpc_round"]


@dataclass
class SMPCCluster:
    """One cluster: its trainer (parties holding their tables) and local training settings."""

    name: str
    trainer: Any
    epochs: int = 1
    batch_size: int = 64
    lr: float = 0.1
    loss: str = "bce"
    dp: dict | None = None      # record-level DP-SGD: {sampling_rate, clip, noise_multiplier}

    def train(self, template: Any, params: Sequence[np.ndarray]) -> list:
        """The global parameters loaded into a copy of ``template``, trained privately; the
        trained parameters stay shared (a list of SharedTensors, torch's order). With ``dp``,
        record-level DP-SGD (``PrivateTrainer.fit_dp``); ``steps_`` is what it ran."""
        import torch

        model = copy.deepcopy(template)
        with torch.no_grad():
            for p, value in zip(model.parameters(), params):
                p.copy_(torch.as_tensor(value, dtype=p.dtype))
        if self.dp is not None:
            linear = model[0] if isinstance(model, torch.nn.Sequential) and len(model) == 1 else model
            run = self.trainer.fit_dp(linear, epochs=self.epochs, lr=self.lr, **self.dp)
            self.steps_ = run["steps"]
            return run["parameters"]
        run = self.trainer.fit(model, epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, loss=self.loss)
        return [p.value for p in run["model"].parameters()]


def secure_cluster_sum(clusters: Sequence[SMPCCluster], models: Sequence[Any], weights: Sequence[int], *,
                       threshold: int | None = None, server: SecAggServer | None = None) -> np.ndarray:
    """sum_c weights[c] * model_c as float64 (flattened parameters), by one secure-aggregation
    round over every party of every cluster (see the module). A model is a secured.mpc.nn
    model or the list of its parameters as SharedTensors."""
    models = [list(m) if isinstance(m, (list, tuple)) else [p.value for p in m.parameters()] for m in models]
    if len(clusters) < 2:
        raise ConfigurationError("A secure sum over clusters needs at least two clusters.")
    sessions = [c.trainer.session for c in clusters]
    bits = {s.fractional_bits for s in sessions}
    if len(bits) != 1:
        raise ConfigurationError("Every cluster's session must use the same fractional_bits.")
    fractional_bits = bits.pop()
    ids = [[t._id for t in m] for m in models]
    sizes = [[int(np.prod(t.shape)) for t in m] for m in models]
    if any(s != sizes[0] for s in sizes):
        raise ConfigurationError("The clusters' models have different parameter shapes.")
    size = sum(sizes[0])
    index, start = [], 1
    for s in sessions:                      # Shamir x coordinates: 1..N over every party of every cluster
        index.append(list(range(start, start + s.n_parties)))
        start += s.n_parties
    total_parties = start - 1
    threshold = threshold or total_parties // 2 + 1
    server = server or SecAggServer(size, threshold, ring_bits=64)
    keys: dict[int, bytes] = {}
    for s, idx in zip(sessions, index):
        for i, k in zip(idx, s.party_call("secagg_advertise", [(i, size, threshold) for i in idx])):
            keys[i] = k
    roster = server.roster(keys)
    shares: dict[int, dict[int, bytes]] = {}
    for s, idx in zip(sessions, index):
        for i, ct in zip(idx, s.party_call("secagg_share_keys", [(roster,)] * len(idx))):
            shares[i] = ct
    inbox = server.route(shares)
    for s, idx in zip(sessions, index):
        s.party_call("secagg_receive", [(inbox[i],) for i in idx])
    masked: dict[int, np.ndarray] = {}
    for s, idx, w, own in zip(sessions, index, weights, ids):
        if isinstance(w, bool) or not isinstance(w, (int, np.integer)) or w < 1:
            raise ConfigurationError("Cluster weights are positive ints (rows).")
        args = [(int(w), server.u2, *[("#id", t) for t in own])] * len(idx)
        for i, y in zip(idx, s.party_call("secagg_masked", args)):
            masked[i] = np.asarray(y, dtype=np.uint64)
    survivors, dropped = server.collect(masked)
    responses: dict[int, dict] = {}
    for s, idx in zip(sessions, index):
        for i, r in zip(idx, s.party_call("secagg_unmask", [(survivors, dropped)] * len(idx))):
            responses[i] = r
    ring_sum = server.finish(responses, roster)
    signed = ring_sum.astype(np.int64)      # two's complement: the fixed-point value of the sum
    if np.abs(signed).max(initial=0) >= 1 << 62:
        raise IntegrityError("The weighted sum is too large for the ring; lower the weights or the model's scale.")
    return signed.astype(np.float64) / 2.0 ** fractional_bits


def smpc_round(rnd: int, clusters: Sequence[SMPCCluster], template: Any, params: Sequence[np.ndarray], *,
               strategy: Strategy | None = None, accountant: Any = None,
               progress: Progress | None = None) -> tuple[list[np.ndarray], dict]:
    """One federated round: every cluster trains privately, the weighted sum of their models
    is computed securely, ``strategy`` (FedAvg by default; linear only) makes the new global
    parameters. Returns them and the round's record.

    Record-level DP: every cluster runs DP-SGD with the same ``dp`` settings on its own rows;
    a record is in one cluster, so the round costs one cluster's steps (parallel composition),
    charged to ``accountant`` before any training."""
    strategy = strategy or FedAvg()
    settings = {repr(sorted(c.dp.items())) if c.dp else None for c in clusters}
    if len(settings) != 1:
        raise ConfigurationError("Every cluster must use the same dp settings (or none).")
    dp = clusters[0].dp
    if dp is not None:
        if accountant is None:
            raise ConfigurationError("Record-level DP needs accountant=PrivacyAccountant(...): every round is charged.")
        steps = max(1, int(round(clusters[0].epochs / dp["sampling_rate"])))
        accountant.charge(rounds=steps, noise_multiplier=dp["noise_multiplier"], sampling_rate=dp["sampling_rate"],
                          label=f"round {rnd}: DP-SGD in each cluster", unit="record")
    if not strategy.linear:
        raise ConfigurationError(f"The {strategy.name} strategy needs each cluster's model, which stays secret; "
                                 "use a linear strategy (FedAvg, FedAvgM, FedProx, FedAdam, FedYogi, FedAdagrad).")
    start = time.perf_counter()
    models = []
    for c in clusters:
        emit(progress, f"round {rnd}: cluster {c.name} trains (SMPC)")
        try:
            models.append(c.train(template, params))
        except (ConfigurationError, PrivacyBudgetError):
            raise
        except SecuredError as exc:          # a party timed out or failed: the round cannot complete
            failure = RoundFailedError(f"Round {rnd}: cluster {c.name!r} failed ({type(exc).__name__}); the round is "
                                       "recorded as failed. Start the cluster's session again and run again.")
            failure.cluster, failure.reason = c.name, type(exc).__name__
            raise failure from None
    weights = [int(c.trainer.n_rows) for c in clusters]
    server = SecAggServer(sum(int(np.prod(p.shape)) for p in params), sum(c.trainer.session.n_parties
                                                                           for c in clusters) // 2 + 1, ring_bits=64)
    flat = secure_cluster_sum(clusters, models, weights, server=server)
    offsets = np.cumsum([0] + [int(np.prod(p.shape)) for p in params])
    current = [np.asarray(p, dtype=np.float64) for p in params]
    total = [flat[a:b].reshape(p.shape) for p, a, b in zip(current, offsets[:-1], offsets[1:])]
    new = strategy.aggregate_sum(rnd, total, float(sum(weights)), current)
    record = {"round": rnd, "clusters": [c.name for c in clusters], "rows": weights,
              "seconds": time.perf_counter() - start, "aggregator_bytes_in": server.bytes_in}
    if dp is not None:
        record["epsilon"] = accountant.epsilon()
    return new, record


class SMPCFederation(Federation):
    """Rounds of ``smpc_round`` persisted like ``Federation`` (the same run folder: run.json,
    params.npz, strategy.npz, written atomically after every round). A cluster whose party
    times out or fails makes the round fail: it is recorded (which cluster, the error's
    category) and ``RoundFailedError`` raised; give fresh clusters (new sessions) and run
    again to resume at that round. With DP the failed round's charge stays in the ledger (it
    is counted again when the round is retried: the ledger never under-counts)."""

    def __init__(self, clusters: Sequence[SMPCCluster], template: Any, *, initial: Sequence[np.ndarray], rounds: int,
                 run_dir: Any, strategy: Strategy | None = None, accountant: Any = None,
                 progress: Progress | None = None, on_record: Any = None) -> None:
        names = [c.name for c in clusters]
        if len(set(names)) != len(names) or len(names) < 2:
            raise ConfigurationError("SMPCFederation needs at least two clusters with distinct names.")
        # the clusters' names stand for Federation's clients: they are what the record lists
        super().__init__(strategy or FedAvg(), {n: _no_client for n in names}, initial=initial, rounds=rounds,
                         run_dir=run_dir, accountant=accountant, progress=progress, on_record=on_record)
        self.clusters, self.template = list(clusters), template

    def _round(self, rnd: int, params: list[np.ndarray], record: dict) -> list[np.ndarray]:
        from .run import _save_arrays

        store = self
        try:
            new, info = smpc_round(rnd, self.clusters, self.template, params, strategy=self.strategy,
                                   accountant=store.accountant, progress=store.progress)
        except RoundFailedError as exc:
            store._failed(record, {"round": rnd, "participants": [], "status": "failed",
                                   "failures": [{"client": getattr(exc, "cluster", "?"),
                                                 "reason": getattr(exc, "reason", "error")}]})
            raise
        except PrivacyBudgetError:
            store._failed(record, {"round": rnd, "participants": [], "status": "failed", "failures": [],
                                   "reason": "privacy budget"})
            raise
        names_state, arrays_state = store._state_arrays()
        _save_arrays(new, store.run_dir / "params.npz")
        if arrays_state:
            _save_arrays(arrays_state, store.run_dir / "strategy.npz")
        entry = {"round": rnd, "participants": info["clusters"], "failures": [], "status": "completed",
                 "rows": info["rows"], "seconds": info["seconds"]}
        if "epsilon" in info:
            entry["epsilon"] = info["epsilon"]
        record["strategy_state"] = names_state
        record["records"] = [r for r in record["records"] if r["round"] != rnd] + [entry]
        record["rounds_completed"] = rnd
        store._write(record)
        return new


def _no_client(*args: Any) -> None:
    """A cluster is driven by ``smpc_round``, never called as a Federation client."""
    raise ConfigurationError("SMPC clusters are trained by smpc_round, not called as clients.")
