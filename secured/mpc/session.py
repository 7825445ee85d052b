"""In-process SMPC session: n parties as threads of this process, plus the dealer.

Every party runs in its own thread with its own communicator endpoint, exactly as it would
in its own Ray actor; the driver only dispatches commands and receives revealed outputs. It
is the fast path on one node and what the tests run on.

>>> import numpy as np
>>> from secured.mpc import Session
>>> with Session(n_parties=3) as s:
...     x = s.share(np.array([1.5, -2.0]))
...     y = s.share(np.array([4.0, 0.25]))
...     np.round((x * y + 1).reveal(), 3).tolist()
[7.0, 0.5]
"""

from __future__ import annotations

import itertools
import queue
import threading
from concurrent.futures import Future, wait
from typing import Any

import numpy as np

from .._config import get_config
from ..backend import get_backend, new_key
from ..exceptions import ConfigurationError, PartyTimeoutError, SecuredError
from ._comm import close_all, make_thread_communicators
from ._dealer import Dealer
from ._party import Party
from ._protocols import derivations
from .tensor import SharedTensor

__all__ = ["Session"]


class Session:
    """n parties and a dealer in this process. Use as a context manager or call ``close``."""

    def __init__(self, n_parties: int = 2, *, timeout: float = 60.0, backend: str | None = None,
                 fractional_bits: int | None = None, observer=None) -> None:
        if isinstance(n_parties, bool) or not isinstance(n_parties, int) or n_parties < 2:
            raise ConfigurationError(
                f"The 'n_parties' parameter of Session must be an int in the range [2, inf). Got {n_parties!r} instead.")
        if not (isinstance(timeout, (int, float)) and timeout > 0):
            raise ConfigurationError(f"The 'timeout' parameter of Session must be a positive number of seconds. Got {timeout!r} instead.")
        self.n_parties = n_parties
        self.timeout = float(timeout)
        self.fractional_bits = int(get_config()["fractional_bits"] if fractional_bits is None else fractional_bits)
        self.be = get_backend(name=backend)
        self.dealer = Dealer(n_parties, self.be, derivations(self.be))
        comms = make_thread_communicators(n_parties, self.timeout, observer)
        self._comms = comms
        self.parties = [
            Party(r, n_parties, comms[r], self.dealer.key_for(r),
                  self.dealer.correction if r == 0 else None, self.be.name, self.fractional_bits)
            for r in range(n_parties)
        ]
        self._queues: list[queue.Queue] = [queue.Queue() for _ in range(n_parties)]
        self._threads = [threading.Thread(target=self._serve, args=(r,), daemon=True,
                                          name=f"secured-party-{r}") for r in range(n_parties)]
        for t in self._threads:
            t.start()
        self._ids = itertools.count()
        self._closed = False
        self._broken = False
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ plumbing
    def _serve(self, rank: int) -> None:
        q = self._queues[rank]
        while True:
            item = q.get()
            if item is None:
                return
            op, out, args, fut = item
            try:
                fut.set_result(self.parties[rank].run(op, out, args))
            except BaseException as exc:  # handed to the driver, which raises it
                fut.set_exception(exc)

    def _dispatch(self, op: str, args_per_party: list[tuple], out: int | None) -> list[Any]:
        if self._closed or self._broken:
            raise SecuredError("This Session is closed or lost a party; create a new one.")
        with self._lock:  # one op at a time: parties must see ops in the same order
            futures = []
            for rank in range(self.n_parties):
                fut: Future = Future()
                self._queues[rank].put((op, out, args_per_party[rank], fut))
                futures.append(fut)
            # A party's own PartyTimeoutError is a TimeoutError too, so wait first and then
            # look at each future, rather than catching timeouts from result().
            wait(futures, timeout=self.timeout + 1.0)
            results, errors = [], []
            for rank, fut in enumerate(futures):
                if not fut.done():
                    errors.append(PartyTimeoutError(
                        f"party {rank} did not finish {op!r} within {self.timeout:g} s.", party=f"party {rank}"))
                elif fut.exception() is not None:
                    errors.append(fut.exception())
                else:
                    results.append(fut.result())
            if errors:
                if any(isinstance(e, PartyTimeoutError) for e in errors):
                    # Parties are out of step now: nothing further can run on this session.
                    self._broken = True
                root = next((e for e in errors if not isinstance(e, PartyTimeoutError)), errors[0])
                raise root
            return results

    def run(self, op: str, *args: Any) -> SharedTensor:
        """Run a registered op on every party with the same arguments; returns the new tensor."""
        out = next(self._ids)
        shapes = self._dispatch(op, [self._wire(args)] * self.n_parties, out)
        return SharedTensor(self, out, shapes[0])

    @staticmethod
    def _wire(args: tuple) -> tuple:
        return tuple(("#id", a._id) if isinstance(a, SharedTensor) else a for a in args)

    # ------------------------------------------------------------------ public API
    def share(self, x: Any) -> SharedTensor:
        """Secret-share a real array held by the driver (the input owner) among the parties.

        Parties 1..n-1 get shares expanded from a fresh PRG key; party 0 gets x minus their sum.
        """
        enc = self.be.encode(np.asarray(x, dtype=np.float64), self.fractional_bits)
        return self.share_ring(enc)

    def share_ring(self, x_ring: Any) -> SharedTensor:
        x_ring = self.be.asarray(x_ring)
        key = new_key()
        shares = [None] * self.n_parties
        rest = x_ring
        for r in range(1, self.n_parties):
            shares[r] = self.be.prg(key, r, x_ring.shape)
            rest = self.be.sub(rest, shares[r])
        shares[0] = rest
        out = next(self._ids)
        shapes = self._dispatch("input", [(s,) for s in shares], out)
        return SharedTensor(self, out, shapes[0])

    def reveal_ring(self, t: SharedTensor) -> np.ndarray:
        shares = self._dispatch("reveal", [(("#id", t._id),)] * self.n_parties, None)
        total = shares[0]
        for s in shares[1:]:
            total = total + s
        return total

    def free(self, t: SharedTensor) -> None:
        if not (self._closed or self._broken):
            self._dispatch("free", [(t._id,)] * self.n_parties, None)

    def stats(self) -> dict[str, Any]:
        """Per-party bytes sent and rounds, and what the dealer sent."""
        return {"parties": [p.stats() for p in self.parties],
                "dealer": {"bytes_sent": self.dealer.bytes_sent, "requests": self.dealer.requests}}

    def reset_stats(self) -> None:
        from ._comm import CommStats

        for p in self.parties:
            p.ctx.comm.stats = CommStats()
        self.dealer.bytes_sent = 0
        self.dealer.requests = 0

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for q in self._queues:
            q.put(None)
        close_all(self._comms)
        for t in self._threads:
            t.join(timeout=5)

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Session(n_parties={self.n_parties}, backend={self.be.name!r}, fractional_bits={self.fractional_bits})"
