"""Secure aggregation for federated strategies: the protocol itself lives in
``secured.mpc.secagg`` (Bonawitz et al. 2017: X25519, ChaCha20 masks, Shamir dropout
recovery); ``SecureAggregation`` wraps a linear strategy so that the server sees only sums.

>>> import numpy as np
>>> from secured.federation import FedAvg, Update
>>> current = [np.zeros(3)]
>>> ups = [Update([np.full(3, 0.1 * k)], 10, f"h{k}") for k in range(3)]
>>> agg = SecureAggregation(FedAvg(), threshold=2, bound=1.0, max_examples=100)
>>> np.round(agg.aggregate(1, ups, current)[0], 3)
array([0.1, 0.1, 0.1])
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..exceptions import BadInputError, ConfigurationError
from ..mpc.secagg import (PRIME, SecAggClient, SecAggServer, check_capacity, decode, encode, secure_sum,
                          shamir_join, shamir_split)

__all__ = ["SecureAggregation", "SecAggClient", "SecAggServer", "secure_sum", "check_capacity", "encode", "decode",
           "PRIME", "shamir_split", "shamir_join"]


class SecureAggregation:
    """Wraps a linear strategy: a round's updates are summed under secure aggregation, so the
    server sees only sum_i w_i delta_i and sum_i w_i (w_i = examples_i / max_examples, delta_i =
    params_i - current, each bounded per value by ``bound``: clip the updates with NormBound's
    ``clip_update`` first). Robust strategies are refused: they need every update."""

    def __init__(self, strategy, *, threshold: int, bound: float, max_examples: int, scale_bits: int = 16,
                 drop_after_sharing: Sequence[str] = ()) -> None:
        from .strategies import Strategy

        if not isinstance(strategy, Strategy):
            raise ConfigurationError("SecureAggregation wraps a secured.federation strategy.")
        if not strategy.linear:
            raise ConfigurationError(f"The {strategy.name} strategy needs each client's update, which secure "
                                     "aggregation hides; run it under SMPC (cluster-shared updates) instead, or use "
                                     "a linear strategy (FedAvg, FedAvgM, FedProx, FedAdam, FedYogi, FedAdagrad).")
        if isinstance(max_examples, bool) or not isinstance(max_examples, int) or max_examples <= 0:
            raise ConfigurationError("max_examples must be a positive int (a public bound on examples per client).")
        self.strategy, self.threshold, self.bound = strategy, threshold, bound
        self.max_examples, self.scale_bits, self.drop_after_sharing = max_examples, scale_bits, set(drop_after_sharing)
        self.linear, self.name = True, f"secagg({strategy.name})"

    def configure_round(self, rnd, clients):
        return self.strategy.configure_round(rnd, clients)

    def aggregate(self, rnd, updates, current):
        from .strategies import _check_current, check_update

        from .strategies import NormBound, clip_update

        current = _check_current(current)
        updates = [check_update(u, current) for u in updates]
        if isinstance(self.strategy, NormBound):   # what each client does before masking
            updates = [clip_update(u, current, self.strategy.max_norm) for u in updates]
        if not updates:
            raise BadInputError("No update to aggregate.")
        vectors, order = [], []
        for u in updates:
            if u.num_examples > self.max_examples:
                raise BadInputError(f"Client {u.client!r} reports more examples than max_examples.")
            w = u.num_examples / self.max_examples
            delta = np.concatenate([(p.astype(np.float64) - c.astype(np.float64)).reshape(-1)
                                    for p, c in zip(u.params, current)])
            if np.abs(delta).max(initial=0.0) > self.bound:
                raise BadInputError(f"The update of client {u.client!r} moves a value by more than bound; clip it "
                                    "first (clip_update).")
            vectors.append(np.r_[w * delta, w])
            order.append(u.client)
        gone = [i for i, c in enumerate(order) if c in self.drop_after_sharing]
        limit = max(self.bound, 1.0)          # the weight coordinate is at most 1
        self.server_ = SecAggServer(vectors[0].size, self.threshold, limit, self.scale_bits)
        summed = secure_sum(vectors, threshold=self.threshold, bound=limit, scale_bits=self.scale_bits,
                            drop_after_sharing=gone, server=self.server_)
        weight = summed[-1]
        offsets = np.cumsum([0] + [c.size for c in current])
        total = [weight * c.astype(np.float64) + summed[a:b].reshape(c.shape)
                 for c, a, b in zip(current, offsets[:-1], offsets[1:])]
        self.participants_ = [c for i, c in enumerate(order) if i not in gone]
        return self.strategy.aggregate_sum(rnd, total, weight, current)

    def evaluate(self, rnd, params):
        return self.strategy.evaluate(rnd, params)

    def state(self):
        return self.strategy.state()

    def load_state(self, state):
        self.strategy.load_state(state)
