"""Party protocol code run directly on threaded parties with a real dealer (for tests that
need ring inputs a Session cannot encode: values near +-2^63)."""

from __future__ import annotations

import threading

import numpy as np


def on_threads(parties: int, x: np.ndarray, fn, frac: int = 16, seed: int = 11):
    """Each of ``parties`` parties runs fn(ctx, its additive share of the int64 ring values x);
    the per-party outputs and the communicators' stats."""
    from secured.backend import get_backend
    from secured.mpc._comm import make_thread_communicators
    from secured.mpc._dealer import Dealer
    from secured.mpc._protocols import PartyContext, derivations

    be = get_backend(name="numpy")
    dealer = Dealer(parties, be, derivations(be))
    comms = make_thread_communicators(parties, 60.0)
    rng = np.random.default_rng(seed)
    shares = [rng.integers(0, 2**63, x.shape, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
              for _ in range(parties - 1)]
    with np.errstate(over="ignore"):
        shares.append(x.view(np.uint64) - np.sum(shares, axis=0, dtype=np.uint64))
    out, errors = [None] * parties, []

    def party(b):
        ctx = PartyContext(b, parties, be, comms[b], dealer.key_for(b), dealer.correction if b == 0 else None, frac)
        try:
            out[b] = fn(ctx, shares[b])
        except BaseException as exc:  # noqa: BLE001 - surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=party, args=(b,)) for b in range(parties)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return out, [c.stats for c in comms]
