"""SMPC sessions: n parties plus the dealer, and the driver that dispatches ops to them.

``BaseSession`` holds what every transport shares: sharing inputs, dispatching an op to all
parties in the same order, revealing, statistics, timeouts. ``Session`` runs every party in a
thread of this process with its own communicator endpoint, exactly as it would run in its own
Ray actor (``secured.cluster.RaySession``); it is the fast path on one node.

>>> import numpy as np
>>> from secured.mpc import Session
>>> with Session(n_parties=3) as s:
...     x = s.share(np.array([1.5, -2.0]))
...     y = s.share(np.array([4.0, 0.25]))
...     np.round((x * y + 1).reveal(), 3).tolist()
[7.0, 0.5]
"""

from __future__ import annotations

import abc
import itertools
import math
import queue
import threading
from concurrent.futures import Future, wait
from typing import Any

import numpy as np

from .._config import get_config
from ..backend import RingBackend, get_backend, new_key
from ..exceptions import ConfigurationError, PartyTimeoutError, SecuredError
from . import _bounds, _shapes
from ._comm import CommStats, Network, close_all, make_thread_communicators
from ._dealer import Dealer
from ._party import Party
from ._protocols import derivations
from .tensor import SharedTensor

__all__ = ["BaseSession", "Session", "DRIVER_GRACE", "PIPELINE_DEPTH"]

#: Seconds the driver waits beyond the parties' own timeout, so that a party's error (which
#: names the peer it waited for) arrives before the driver gives up on the party itself.
DRIVER_GRACE = 3.0

#: Most ops a session sends ahead of the parties' answers (``BaseSession._dispatch``).
PIPELINE_DEPTH = 64


class BaseSession(abc.ABC):
    """Driver side of an SMPC computation. Subclasses provide the transport."""

    n_parties: int
    timeout: float
    fractional_bits: int
    be: RingBackend

    def _setup(self, n_parties: int, timeout: float, backend: str | None,
               fractional_bits: int | None, checked: bool = False, pipeline: bool = True) -> None:
        name = type(self).__name__
        if isinstance(n_parties, bool) or not isinstance(n_parties, int) or n_parties < 2:
            raise ConfigurationError(
                f"The 'n_parties' parameter of {name} must be an int in the range [2, inf). Got {n_parties!r} instead.")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
            raise ConfigurationError(
                f"The 'timeout' parameter of {name} must be a positive number of seconds. Got {timeout!r} instead.")
        if not isinstance(checked, bool):
            raise ConfigurationError(f"The 'checked' parameter of {name} must be True or False.")
        if not isinstance(pipeline, bool):
            raise ConfigurationError(f"The 'pipeline' parameter of {name} must be True or False.")
        self.pipeline = pipeline  # send ops whose result shape is known without waiting for the answer
        self.checked = checked  # development only: every op's inputs and results are revealed to the driver
        self.n_parties = n_parties
        self.timeout = float(timeout)
        self.fractional_bits = int(get_config()["fractional_bits"] if fractional_bits is None else fractional_bits)
        self.be = get_backend(name=backend)
        self._ids = itertools.count()
        self._closed = False
        self._broken = False
        self._lock = threading.Lock()
        self._garbage: list[int] = []  # ids of collected SharedTensors, freed with the next op
        self._inflight: list[tuple[str, Any]] = []  # pipelined ops not yet answered, oldest first

    def _protocol(self, protocol: str, link: Network | None) -> Any:
        """The cost model for ``protocol`` ('auto', 'fss', 'classic') on ``link``: the network the
        parties really talk over (default: a link with no latency, on which the classic
        protocols win; describe a WAN with ``link=Network(latency, bandwidth)``)."""
        from .costs import PROTOCOLS, CostModel

        if protocol not in PROTOCOLS:
            raise ConfigurationError(f"The 'protocol' parameter of {type(self).__name__} must be one of "
                                     f"{', '.join(PROTOCOLS)}. Got {protocol!r} instead.")
        if link is not None and not isinstance(link, Network):
            raise ConfigurationError("'link' (and 'network') must be a secured.mpc.Network.")
        self.protocol, self.costs = protocol, CostModel(link or Network())
        return self.costs

    # ------------------------------------------------------------------ transport
    @abc.abstractmethod
    def _execute(self, op: str, args_per_party: list[tuple], out: int | None,
                 frees: tuple) -> list[tuple[str, Any]]:
        """Run the op on every party (after dropping the tensors in ``frees``); per party
        ('ok', result) or ('error', exception). A party that did not finish in time is
        reported as ('error', PartyTimeoutError)."""

    def _submit(self, op: str, args_per_party: list[tuple], out: int | None, frees: tuple) -> Any:
        """Send the op to every party without waiting; a ticket for ``_collect``, or None when
        this transport cannot pipeline the op (it then runs through ``_execute``)."""
        return None

    @abc.abstractmethod
    def _collect(self, op: str, ticket: Any) -> list[tuple[str, Any]]:
        """The outcomes of a submitted op, as ``_execute`` returns them; a party that does not
        answer within the timeout (counted from now: the op before it has been answered) is
        reported as ('error', PartyTimeoutError)."""

    @abc.abstractmethod
    def _party_stats(self) -> list[dict[str, Any]]: ...

    @abc.abstractmethod
    def _dealer_stats(self) -> dict[str, Any]: ...

    @abc.abstractmethod
    def _reset_stats(self) -> None: ...

    @abc.abstractmethod
    def _shutdown(self) -> None: ...

    # ------------------------------------------------------------------ dispatch
    def _dispatch(self, op: str, args_per_party: list[tuple], out: int | None,
                  shape: tuple[int, ...] | None = None) -> list[Any]:
        """Run the op on every party. An op whose result ``shape`` the driver knows is pipelined
        (sent, not waited for) where the transport can: a party's failure in it is raised by
        the next op that waits (anything that returns a value, ``sync()``, ``stats()``,
        ``close()``) or once ``PIPELINE_DEPTH`` ops are in flight."""
        if self._closed or self._broken:
            raise SecuredError("This session is closed or lost a party; create a new one.")
        with self._lock:  # one op at a time: parties must see ops in the same order
            frees, self._garbage[:] = tuple(self._garbage), []
            if shape is not None and self.pipeline:
                ticket = self._submit(op, args_per_party, out, frees)
                if ticket is not None:
                    self._inflight.append((op, ticket))
                    if len(self._inflight) > PIPELINE_DEPTH:
                        self._settle(keep=PIPELINE_DEPTH)
                    return [shape] * self.n_parties
            self._settle()
            outcomes = self._execute(op, args_per_party, out, frees)
        self._raise_errors(outcomes)
        return [value for _, value in outcomes]

    def _raise_errors(self, outcomes: list[tuple[str, Any]], pipelined: str | None = None) -> None:
        errors = [value for status, value in outcomes if status == "error"]
        if errors:
            if any(isinstance(e, PartyTimeoutError) for e in errors):
                self._broken = True  # parties are out of step: nothing further can run
            error = self._root_cause(outcomes)
            if pipelined is not None:
                error.add_note(f"(raised by the earlier, pipelined op {pipelined!r})")
            raise error

    def _settle(self, keep: int = 0) -> None:
        """Wait for the pipelined ops until at most ``keep`` are in flight; raises the first
        failure (after every answer is in, so that no later reply is mistaken for another)."""
        failed = None
        while len(self._inflight) > keep:
            op, ticket = self._inflight.pop(0)
            outcomes = self._collect(op, ticket)
            if failed is None and any(status == "error" for status, _ in outcomes):
                failed = (outcomes, op)
                keep = 0
                if any(isinstance(v, PartyTimeoutError) for status, v in outcomes if status == "error"):
                    self._inflight.clear()   # the parties are out of step: no later answer will come

        if failed is not None:
            self._raise_errors(failed[0], pipelined=failed[1])

    def sync(self) -> None:
        """Wait until the parties have run every op sent so far; raises a failure of any of them."""
        if self._inflight:
            with self._lock:
                self._settle()

    @staticmethod
    def _root_cause(outcomes: list[tuple[str, Any]]) -> BaseException:
        """The error to raise: a real error first; among timeouts, one naming a party (or the
        dealer) that did not itself report waiting on someone, since a party stuck behind a
        dead peer makes its own neighbours time out on it too."""
        errors = [(rank, value) for rank, (status, value) in enumerate(outcomes) if status == "error"]
        for _, e in errors:
            if not isinstance(e, PartyTimeoutError):
                return e
        waiting = {f"party {rank}" for rank, e in errors if not getattr(e, "from_driver", False)}
        reported = [e for _, e in errors if not getattr(e, "from_driver", False)]
        for e in reported:
            if e.party not in waiting:
                return e
        return reported[0] if reported else errors[0][1]

    def _timeout_error(self, rank: int, op: str) -> PartyTimeoutError:
        err = PartyTimeoutError(f"party {rank} did not finish {op!r} within {self.timeout:g} s.",
                                party=f"party {rank}")
        err.from_driver = True
        return err

    def run(self, op: str, *args: Any) -> SharedTensor:
        """Run a registered op on every party with the same arguments; returns the new tensor.
        The result's public bound is propagated, and an op that could wrap is refused first
        (``_bounds.py``); a checked session also reveals and checks inputs and results."""
        return self._run(op, args, _shapes.result_shape(op, args))   # refuses shapes that do not fit

    def _run(self, op: str, args: tuple, shape: tuple[int, ...] | None) -> SharedTensor:
        """``run`` with the result's shape when the driver knows it (the op is then pipelined)."""
        bound = _bounds.propagate(op, args, self)
        if self.checked and op in _bounds.DOMAIN:
            operand = args[1] if op == "div" else args[0]
            _bounds.check_domain(op, operand.reveal(), self.fractional_bits)
        out = next(self._ids)
        shapes = self._dispatch(op, [self._wire(args)] * self.n_parties, out, None if self.checked else shape)
        result = SharedTensor(self, out, shapes[0], bound)
        if self.checked:
            _bounds.check_result(op, result.reveal(), bound, self.fractional_bits)
        return result

    def relu_with_mask(self, x: SharedTensor) -> tuple[SharedTensor, SharedTensor]:
        """max(x, 0) and the mask [x >= 0] (0.0 / 1.0) in one op, for training: the mask comes
        free with the bit injection of the ReLU (6 rounds for both with the masked comparison,
        no truncation). The mask's id is fresh here, so the op is pipelined (``run("relu_mask",
        ...)`` with any other id waits: the parties refuse an id they already hold)."""
        mask_id = next(self._ids)
        y = self._run("relu_mask", (x, mask_id), tuple(x.shape))
        return y, SharedTensor(self, mask_id, y.shape, 1.0)

    @staticmethod
    def _wire(args: tuple) -> tuple:
        return tuple(("#id", a._id) if isinstance(a, SharedTensor) else a for a in args)

    # ------------------------------------------------------------------ public API
    def share(self, x: Any) -> SharedTensor:
        """Secret-share a real array held by the driver (the input owner) among the parties.

        Parties 1..n-1 get shares expanded from a fresh PRG key; party 0 gets x minus their sum.
        """
        values = np.asarray(x, dtype=np.float64)
        enc = self.be.encode(values, self.fractional_bits)
        shared = self.share_ring(enc)
        shared.bound = float(np.abs(values).max()) if values.size else 0.0  # the driver's own data
        return shared

    def share_ring(self, x_ring: Any) -> SharedTensor:
        x_ring = self.be.asarray(x_ring)
        key = new_key()
        shares: list[Any] = [None] * self.n_parties
        rest = x_ring
        for r in range(1, self.n_parties):
            shares[r] = self.be.prg(key, r, x_ring.shape)
            rest = self.be.sub(rest, shares[r])
        shares[0] = rest
        out = next(self._ids)
        shapes = self._dispatch("input", [(s,) for s in shares], out)
        return SharedTensor(self, out, shapes[0])

    def load(self, owner: int, name: str, source: Any) -> tuple[int, ...]:
        """Have party ``owner`` load its private data ``name`` from ``source`` (a .npy, .csv
        or .parquet path on the party's machine, or a callable run inside the party). Only the
        shape comes back to the driver."""
        self._check_owner(owner)
        args = [(name, source if r == owner else None) for r in range(self.n_parties)]
        return self._dispatch("load", args, None)[owner]

    def input_from(self, owner: int, name: str, bound: float | None = None) -> SharedTensor:
        """Secret-share party ``owner``'s private data ``name`` among all parties; the driver
        and the other parties see only shares. ``bound`` is a public bound on its magnitude
        declared by the data's owner (checked by the owner's party; None: unknown)."""
        self._check_owner(owner)
        if bound is not None and (isinstance(bound, bool) or not isinstance(bound, (int, float))
                                  or not math.isfinite(bound) or bound < 0):
            raise ConfigurationError("'bound' must be a finite number >= 0 (or None).")
        if bound is not None:
            self._dispatch("check_bound", [(name, float(bound)) if r == owner else (None, None)
                                           for r in range(self.n_parties)], None)
        out = next(self._ids)
        shapes = self._dispatch("input_from", [(owner, name, bound)] * self.n_parties, out)
        return SharedTensor(self, out, shapes[0], None if bound is None else float(bound))

    def concat(self, parts: list[SharedTensor], axis: int = 0) -> SharedTensor:
        """Concatenate shared tensors (e.g. the row blocks of a horizontal partition)."""
        return self.run("concat", axis, *parts)

    def party_call(self, op: str, args_per_party: list[tuple]) -> list[Any]:
        """Run a table op (load_table, align, columns) on every party; metadata comes back."""
        return self._dispatch(op, args_per_party, None)

    def _check_owner(self, owner: int) -> None:
        if isinstance(owner, bool) or not isinstance(owner, int) or not 0 <= owner < self.n_parties:
            raise ConfigurationError(f"'owner' must be a party index in [0, {self.n_parties}); got {owner!r}.")

    def reveal_ring(self, t: SharedTensor) -> np.ndarray:
        shares = self._dispatch("reveal", [(("#id", t._id),)] * self.n_parties, None)
        total = shares[0]
        for s in shares[1:]:
            total = total + s
        return total

    def release(self, tensor_id: int) -> None:
        """Called when a SharedTensor is collected: the parties drop it with the next op."""
        self._garbage.append(tensor_id)

    def stats(self) -> dict[str, Any]:
        """Per-party bytes sent and rounds (per op too), and what the dealer sent."""
        self.sync()
        return {"parties": self._party_stats(), "dealer": self._dealer_stats()}

    def reset_stats(self) -> None:
        self.sync()
        self._reset_stats()

    def close(self) -> None:
        """Wait for the pipelined ops (raising a failure among them), then stop the parties."""
        if not self._closed:
            try:
                if not self._broken:
                    self.sync()
            finally:
                self._closed = True
                self._inflight.clear()
                self._shutdown()

    def __enter__(self) -> "BaseSession":
        return self

    def __exit__(self, exc_type: Any, *exc: Any) -> None:
        try:
            self.close()
        except Exception:
            if exc_type is None:
                raise   # a failure of a pipelined op; an exception already on its way wins

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(n_parties={self.n_parties}, backend={self.be.name!r}, "
                f"fractional_bits={self.fractional_bits})")


class Session(BaseSession):
    """n parties (threads) and a dealer in this process. Use as a context manager or ``close``.

    ``observer(src, dst, arrays)``, when given, sees every message between parties (tests use
    it to check what parties receive). ``checked=True`` is a development mode: the driver
    reveals every op's inputs and results to check ranges and wraps (see ``_bounds.py``);
    never use it on real data.

    Two parties may run ReLU and comparisons as function-secret-sharing gates
    (``secured.mpc.fss``): ``protocol='auto'`` lets the cost model (``secured.mpc.costs``) pick
    per op for the network described by ``link`` (default: no latency, where the classic
    protocols win), 'fss' or 'classic' force one. ``network`` simulates a link (each round waits
    its latency plus bytes over bandwidth) for benchmarks; it is also the cost model's link
    unless ``link`` is given. ``stats()`` reports the protocol each op ran with.

    ``pipeline=True`` (the default) sends an op whose result shape the driver can tell
    (arithmetic, comparisons, the nonlinear functions, indexing, sums, reshapes) without
    waiting for the parties to finish it, so the parties run a training step back to back; a
    failure is raised by the next op that waits (``reveal``, ``sync()``, ``stats()``, ``close``).
    """

    def __init__(self, n_parties: int = 2, *, timeout: float = 60.0, backend: str | None = None,
                 fractional_bits: int | None = None, observer=None, checked: bool = False,
                 network: Network | None = None, protocol: str = "auto", link: Network | None = None,
                 pipeline: bool = True) -> None:
        self._setup(n_parties, timeout, backend, fractional_bits, checked, pipeline)
        costs = self._protocol(protocol, link or network)
        self.dealer = Dealer(n_parties, self.be, derivations(self.be))
        self._comms = make_thread_communicators(n_parties, self.timeout, observer, network)
        self.parties = [
            Party(r, n_parties, self._comms[r], self.dealer.key_for(r),
                  self.dealer.correction if r == 0 else None, self.be.name, self.fractional_bits,
                  dealer_fss=self.dealer.fss_key if n_parties == 2 else None, protocol=protocol, costs=costs)
            for r in range(n_parties)
        ]
        self._queues: list[queue.Queue] = [queue.Queue() for _ in range(n_parties)]
        self._threads = [threading.Thread(target=self._serve, args=(r,), daemon=True,
                                          name=f"secured-party-{r}") for r in range(n_parties)]
        for t in self._threads:
            t.start()

    def _serve(self, rank: int) -> None:
        q = self._queues[rank]
        while True:
            item = q.get()
            if item is None:
                return
            op, out, args, frees, fut = item
            try:
                fut.set_result(self.parties[rank].run(op, out, args, frees))
            except BaseException as exc:  # handed to the driver, which raises it
                fut.set_exception(exc)

    def _submit(self, op, args_per_party, out, frees):
        futures = []
        for rank in range(self.n_parties):
            fut: Future = Future()
            self._queues[rank].put((op, out, args_per_party[rank], frees, fut))
            futures.append(fut)
        return futures

    def _execute(self, op, args_per_party, out, frees):
        return self._collect(op, self._submit(op, args_per_party, out, frees))

    def _collect(self, op, futures):
        # A party's own PartyTimeoutError is a TimeoutError too: wait, then inspect.
        wait(futures, timeout=self.timeout + DRIVER_GRACE)
        outcomes = []
        for rank, fut in enumerate(futures):
            if not fut.done():
                outcomes.append(("error", self._timeout_error(rank, op)))
            elif fut.exception() is not None:
                outcomes.append(("error", fut.exception()))
            else:
                outcomes.append(("ok", fut.result()))
        return outcomes

    def _party_stats(self):
        return [p.stats() for p in self.parties]

    def _dealer_stats(self):
        return {"bytes_sent": self.dealer.bytes_sent, "requests": self.dealer.requests}

    def _reset_stats(self) -> None:
        for p in self.parties:
            p.ctx.comm.stats = CommStats()
            p.ctx.choices = {}
        self.dealer.bytes_sent = 0
        self.dealer.requests = 0

    def _shutdown(self) -> None:
        for q in self._queues:
            q.put(None)
        close_all(self._comms)
        for t in self._threads:
            t.join(timeout=5)
