"""RaySession: each SMPC party and the dealer is a Ray actor.

Set-up: the dealer actor draws one PRG key per party and hands each key to its party actor
directly (the driver never sees a key). Each party actor holds its shares, runs the same
``secured.mpc`` protocol code as in-process parties, and sends its messages straight to the
other party actors over the session's TCP links (``_sockets``; with ``direct_links=False``, or
for a GPU's arrays, as ``deliver`` calls that Ray carries). Party 0 asks the dealer actor for
its corrections. The driver sends op names and tensor ids (in frames of several ops), and
receives only what ``reveal`` opens to it.

Timeouts: a party waits ``timeout`` seconds for a peer's message, party 0 as long for the
dealer; then it raises PartyTimeoutError naming the peer. The driver waits ``timeout + 3`` s
for every party; a dead actor is reported as a PartyTimeoutError naming it.

>>> import numpy as np
>>> from secured.cluster import RaySession
>>> with RaySession(n_parties=2) as s:                    # doctest: +SKIP
...     (s.share(np.array([3.0])) * 2).reveal()
array([6.])
"""

from __future__ import annotations

import os
import secrets
import sys
from typing import Any

from ..exceptions import BackendUnavailableError, PartyRefused, PartyTimeoutError
from ..mpc.runtime import PLAIN_RESULT_OPS, CommStats, Dealer, Mailbox, MailboxCommunicator, Party, derivations
from ..mpc.session import DRIVER_GRACE, BaseSession

__all__ = ["RaySession", "ensure_ray"]

#: A pipelined op asks for an answer every this many ops (``RaySession._submit``).
ANSWER_EVERY = 16
#: The driver sends its ops to a party in frames of up to this many (``RaySession._flush``).
OPS_PER_FRAME = 8


def _ray():
    try:
        import ray
    except ImportError as exc:  # pragma: no cover - ray is a runtime dependency
        raise BackendUnavailableError(
            "The Ray layer needs ray[serve]; install the project requirements (`make build`)."
        ) from exc
    return ray


def ensure_ray(address: str | None = None, num_cpus: int | None = None) -> None:
    """Connect to Ray: ``address`` (or RAY_ADDRESS) joins a running cluster; otherwise a local
    instance starts. Token authentication stays on: a random token is set for a local
    instance unless one is configured, so nothing is written to the home folder."""
    address = address or os.environ.get("RAY_ADDRESS")
    if not address and "ray" not in sys.modules:
        # Ray reads these when it is imported.
        os.environ.setdefault("RAY_AUTH_MODE", "token")
        os.environ.setdefault("RAY_AUTH_TOKEN", secrets.token_hex(32))
    ray = _ray()
    if ray.is_initialized():
        return
    ray.init(address=address, num_cpus=None if address else num_cpus,
             include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)


class RayCommunicator(MailboxCommunicator):
    """A party actor's endpoint: messages go over the session's direct TCP links between party
    actors (``_sockets.SocketLinks``: a round in well under a millisecond on one node) or, for
    arrays that are not numpy and when links are off, as fire-and-forget calls on the peers'
    ``deliver`` (Ray moves them; a few milliseconds per round)."""

    def __init__(self, rank: int, n_parties: int, timeout: float, mailbox: Mailbox) -> None:
        super().__init__(rank, n_parties, timeout, mailbox)
        self.peers: list[Any] = []
        self.links: Any = None

    def _send(self, dst: int, tag: Any, arrays: list[Any]) -> None:
        if self.links is not None and self.links.can_send(dst, arrays):
            try:
                self.links.send(dst, tag, arrays)
                return
            except OSError:
                pass                       # a broken link: the message still goes through Ray
        self.peers[dst].deliver.remote(self.rank, tag, arrays)


def _refuse_code(*args: Any, **kwargs: Any) -> Any:
    raise PartyRefused("SECURED party and dealer actors run only their protocol's methods; arbitrary code is "
                       "refused")


class _OwnRayMethods(type):
    """Marks a class as already carrying Ray's default actor methods (Ray then leaves it as it
    is); a metaclass attribute, so the class's own namespace holds no reference to itself."""

    @property
    def __ray_actor_class__(cls) -> type:
        return cls


class _OwnMethodsOnly(metaclass=_OwnRayMethods):
    """Ray adds to every actor class a `__ray_call__` that runs any function a caller sends (it
    could read a party's table and shares, or the dealer's keys). A class that already carries
    Ray's marker attribute is taken as is, so the party and dealer actors define Ray's three
    default methods themselves, with `__ray_call__` refusing."""

    def __ray_ready__(self) -> bool:
        return True

    def __ray_call__(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        _refuse_code()

    def __ray_terminate__(self) -> None:
        import ray

        ray.actor.exit_actor()


class _PartyActor(_OwnMethodsOnly):
    """One party: its shares, its endpoint, its key (received from the dealer actor)."""

    def __init__(self, rank: int, n_parties: int, timeout: float, backend: str | None,
                 fractional_bits: int, record: bool) -> None:
        self.rank, self.n_parties, self.timeout = rank, n_parties, timeout
        self.backend, self.fractional_bits = backend, fractional_bits
        self.mailbox = Mailbox()
        self.comm = RayCommunicator(rank, n_parties, timeout, self.mailbox)
        self.key: bytes | None = None
        self.party = None
        self.record = record
        self.received: list[Any] = []

    def set_key(self, key: bytes) -> None:
        """The dealer's key for this party, accepted once: a second delivery (a caller other
        than the dealer racing it) is refused, and the session fails to start."""
        if self.key is not None:
            raise PartyRefused("this party already holds its dealer key; a second key is refused")
        if not isinstance(key, bytes) or len(key) != 32:
            raise PartyRefused("a dealer key is 32 bytes")
        self.key = key

    def start(self, peers: list[Any], dealer: Any, protocol: str = "auto", costs: Any = None) -> bool:
        if self.party is not None:
            raise PartyRefused("this party is already started; its peers and dealer cannot change")
        self.comm.peers = peers
        def asker(kind: str, method: str):
            """A dealer request: over the direct link when there is one, else a Ray call."""
            def ask(*args: Any) -> Any:
                import ray

                if self.comm.links is not None and self.comm.links.has(self.n_parties):
                    wait = self._ask_dealer(kind, args)
                    # corrections are read after the op's opening (PartyContext.ready); keys at once
                    return wait if kind == "corr" else wait()
                try:
                    return ray.get(getattr(dealer, method).remote(*args), timeout=self.timeout)
                except (ray.exceptions.GetTimeoutError, ray.exceptions.RayActorError):
                    raise PartyTimeoutError(f"the dealer did not answer party {self.rank} within {self.timeout:g} s.",
                                            party="dealer") from None
            return ask

        fss = asker("fss", "fss_key") if self.n_parties == 2 else None
        correction = asker("corr", "correction") if self.rank == 0 else None
        if self.key is None:
            raise RuntimeError("the dealer has not delivered this party's key")
        self.party = Party(self.rank, self.n_parties, self.comm, self.key, correction,
                           self.backend, self.fractional_bits, dealer_fss=fss, protocol=protocol, costs=costs)
        return True

    def _ask_dealer(self, kind: str, args: tuple) -> Any:
        """A dealer request over the direct link, sent now: the request in the frame's tag, the
        answer (arrays) back into this party's mailbox, read by the returned function."""
        import time

        from ._sockets import dealer_reply

        self._asked = getattr(self, "_asked", 0) + 1
        number, sent = self._asked, time.monotonic()
        try:
            self.comm.links.send(self.n_parties, ["ask", kind, number, _plain(args)], [])
        except OSError:
            raise PartyTimeoutError(f"the dealer's link to party {self.rank} is broken; the dealer may have died.",
                                    party="dealer") from None

        def wait() -> Any:
            got = self.mailbox.take(self.n_parties, ("answer", number),
                                    max(0.0, sent + self.timeout - time.monotonic()))
            if got is None:
                raise PartyTimeoutError(f"the dealer did not answer party {self.rank} within {self.timeout:g} s.",
                                        party="dealer")
            return dealer_reply(kind, got)
        return wait

    def listen(self, secret: bytes) -> tuple[str, int]:
        """Open this party's TCP endpoint for the session's links; its (address, port). With
        numpy arrays (not on a GPU) the links run in direct mode: this party's own thread reads
        the peer it waits for, and the links are its inbox."""
        import ray

        from ..backend import get_backend
        from ._sockets import SocketLinks

        if self.comm.links is not None:
            raise PartyRefused("this party already listens; its links cannot change")
        direct = get_backend(name=self.backend).name != "cupy"
        links = SocketLinks(self.rank, secret, self.deliver, direct=direct, threaded=(self.n_parties,))
        if direct:
            if self.record:
                links.observer = lambda src, tag, arrays: self.received.extend(arrays)
            self.mailbox = self.comm.inbox = links        # Ray deliveries are put there too
        self.comm.links = links
        return ray.util.get_node_ip_address(), links.port

    def link(self, addresses: list[tuple[str, int]]) -> bool:
        """Connect to every other party's endpoint and the dealer's (last) once, and start the
        thread that runs the ops the driver sends over its own link (in order, one at a time)."""
        import collections
        import queue
        import threading

        for dst, (host, port) in enumerate(addresses):
            if dst != self.rank:
                self.comm.links.connect(dst, host, port)
        self._ops: Any = queue.Queue()
        self._batch: Any = collections.deque()
        threading.Thread(target=self._serve_ops, name=f"secured-ops-{self.rank}", daemon=True).start()
        return True

    def _next_op(self) -> tuple | None:
        """The driver's next op: read from its link by this thread (direct mode) or handed over
        by the link's reader thread."""
        links = self.comm.links
        if not links.direct:
            return self._ops.get()
        while not self._batch:
            got = links.next_frame(self.n_parties + 1)
            if got is None:
                return None
            self._batch.extend(_ops_of(*got))
        return self._batch.popleft()

    def _serve_ops(self) -> None:
        from ._sockets import encode

        driver = self.n_parties + 1
        while True:
            item = self._next_op()
            if item is None:
                return
            seq, op, out, args, frees, answer = item
            try:
                result = self.party.run(op, out, args, frees)
                if not answer:
                    continue        # a pipelined op: the next answer says it is done (ops run in order)
                arrays: list = []
                reply = ["ok", seq, encode(result, arrays)]
            except BaseException as exc:  # noqa: BLE001 - every failure goes back to the driver, in its words
                arrays = []
                reply = ["err", seq, type(exc).__name__, str(exc), getattr(exc, "party", None)]
            try:
                self.comm.links.send(driver, reply, arrays)
            except OSError:
                return                      # the driver is gone: no op will come over its link again

    def deliver(self, src: int, tag: Any, arrays: list[Any]) -> None:
        """A message from a link's reader thread (threaded mode) or a Ray call (a GPU's arrays,
        a broken link); the driver's ops go to the op thread."""
        if src == self.n_parties + 1:
            for item in _ops_of(tag, arrays):
                self._ops.put(item)
            return
        if self.record:
            self.received.extend(arrays)
        self.mailbox.put(src, tag, arrays)

    def run(self, op: str, out: int | None, args: tuple, frees: tuple = ()) -> Any:
        return self.party.run(op, out, args, frees)

    def stats(self) -> dict[str, Any]:
        return self.party.stats() if self.party is not None else self.comm.stats.snapshot()

    def reset_stats(self) -> None:
        self.comm.stats = CommStats()
        if self.party is not None:
            self.party.ctx.choices = {}

    def received_messages(self) -> list[Any]:
        return list(self.received)


class _DealerActor(_OwnMethodsOnly):
    """The dealer: hands each party its key once, then answers party 0's corrections."""

    def __init__(self, n_parties: int, backend: str | None) -> None:
        from ..backend import get_backend

        be = get_backend(name=backend)
        self.dealer = Dealer(n_parties, be, derivations(be))
        self.delivered = False

    def give_keys(self, parties: list[Any]) -> bool:
        """Each party's key, delivered once: a second request (to other actors) is refused."""
        import ray

        if self.delivered:
            raise PartyRefused("the dealer has delivered its keys; a second delivery is refused")
        self.delivered = True
        ray.get([p.set_key.remote(self.dealer.key_for(i)) for i, p in enumerate(parties)])
        return True

    def correction(self, *args: Any) -> Any:
        return self.dealer.correction(*args)

    def fss_key(self, *args: Any) -> Any:
        return self.dealer.fss_key(*args)

    def listen(self, secret: bytes) -> tuple[str, int]:
        """The dealer's TCP endpoint: parties' requests arrive there, answers go back over the
        dealer's own connections to the parties."""
        import ray

        from ._sockets import SocketLinks

        if getattr(self, "links", None) is not None:
            raise PartyRefused("the dealer already listens; its links cannot change")
        self.links = SocketLinks(self.dealer.n_parties, secret, self._request)
        return ray.util.get_node_ip_address(), self.links.port

    def link(self, addresses: list[tuple[str, int]]) -> bool:
        for dst, (host, port) in enumerate(addresses[:self.dealer.n_parties]):
            self.links.connect(dst, host, port)
        return True

    def _request(self, src: int, tag: Any, arrays: list) -> None:
        from ._sockets import dealer_answer

        if not (isinstance(tag, tuple) and len(tag) == 4 and tag[0] == "ask"):
            return
        _, kind, number, args = tag
        args = _tupled(args)
        if kind == "corr" and src == 0:
            values = self.dealer.correction(*args)
        elif kind == "fss" and args and args[0] == src:
            values = self.dealer.fss_key(*args)
        else:
            return                                    # only party 0 asks for corrections, each party its own key
        self.links.send(src, ["answer", number], dealer_answer(kind, values))

    def stats(self) -> dict[str, Any]:
        return {"bytes_sent": self.dealer.bytes_sent, "requests": self.dealer.requests}

    def reset_stats(self) -> None:
        self.dealer.bytes_sent = 0
        self.dealer.requests = 0


def _ops_of(tag: Any, arrays: list) -> list[tuple]:
    """The ops of a driver's frame, ``["ops", [[seq, op, out, args, frees, answer, n_arrays],
    ...]]`` with each op's arrays in turn; nothing for anything else."""
    from ._sockets import decode

    if not (isinstance(tag, tuple) and len(tag) == 2 and tag[0] == "ops" and isinstance(tag[1], list)):
        return []
    ops, start = [], 0
    for entry in tag[1]:
        if not (isinstance(entry, list) and len(entry) == 7 and isinstance(entry[6], int)):
            return ops
        seq, op, out, args, frees, answer, count = entry
        own = arrays[start:start + count]
        start += count
        ops.append((seq, op, out, decode(args, own), tuple(frees), bool(answer)))
    return ops


def _plain(value: Any) -> Any:
    """Request arguments as JSON values (tuples become lists)."""
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        return value.item()
    return value


def _rebuilt(name: str, message: str, party: Any) -> BaseException:
    """A party's error as the driver raises it: the SECURED exception of that name (its message
    is already in SECURED's words: the party withholds library messages), else PartyError."""
    from .. import exceptions

    cls = getattr(exceptions, name, None)
    if not (isinstance(cls, type) and issubclass(cls, exceptions.SecuredError)):
        cls = exceptions.PartyError
    try:
        error = cls(message, party=party) if cls is PartyTimeoutError else cls(message)
    except TypeError:
        error = exceptions.PartyError(message)
    if party is not None:
        error.party = party
    return error


def _tupled(value: Any) -> Any:
    return tuple(_tupled(v) for v in value) if isinstance(value, list) else value


class _Answers:
    """The parties' answers to the driver's ops. A party runs ops in order and answers an op
    when asked or when it fails, so an answer to op s also says that every op before s is done:
    per party, the last op answered, and the answers not yet taken."""

    def __init__(self, n_parties: int) -> None:
        import threading

        self._cond = threading.Condition()
        self._done = [0] * n_parties
        self._items: dict[tuple[int, int], tuple] = {}

    def put(self, rank: int, tag: tuple, arrays: list) -> None:
        with self._cond:
            seq = int(tag[1])
            self._items[(rank, seq)] = (tag, arrays)
            self._done[rank] = max(self._done[rank], seq)
            self._cond.notify_all()

    def take(self, rank: int, seq: int, timeout: float, through: int) -> tuple | None:
        """Party ``rank``'s answer to op ``seq`` once it has answered op ``through`` (>= seq; a
        later answer is dropped), or ("ok", None) when op ``seq`` needed no answer and did not
        fail; None once ``timeout`` passes."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._done[rank] >= through, timeout):
                return None
            got = self._items.pop((rank, seq), None)
            if through != seq:
                self._items.pop((rank, through), None)
            return got if got is not None else (("ok", None), [])


class RaySession(BaseSession):
    """n party actors and a dealer actor on Ray.

    ``party_resources[i]`` / ``dealer_resources`` pin actors to nodes that advertise those
    custom resources (e.g. ``{"party_0": 1}``); ``address`` joins a running cluster.
    ``record_messages`` keeps every message a party receives (for tests). ``pipeline``: as
    for ``secured.mpc.Session`` (ops whose result shape is known are sent without waiting).
    """

    def __init__(self, n_parties: int = 2, *, timeout: float = 60.0, backend: str | None = None,
                 fractional_bits: int | None = None, address: str | None = None,
                 party_resources: list[dict[str, float]] | None = None,
                 dealer_resources: dict[str, float] | None = None,
                 record_messages: bool = False, checked: bool = False, protocol: str = "auto",
                 link: Any = None, direct_links: bool = True, pipeline: bool = True) -> None:
        self._setup(n_parties, timeout, backend, fractional_bits, checked, pipeline)
        costs = self._protocol(protocol, link)
        ensure_ray(address)
        ray = _ray()
        party_cls = ray.remote(num_cpus=0, max_concurrency=16)(_PartyActor)
        dealer_cls = ray.remote(num_cpus=0)(_DealerActor)
        self._dealer = dealer_cls.options(resources=dealer_resources or {}).remote(n_parties, self.be.name)
        self._parties = [
            party_cls.options(resources=(party_resources or [{}] * n_parties)[r] or {}).remote(
                r, n_parties, self.timeout, self.be.name, self.fractional_bits, record_messages)
            for r in range(n_parties)
        ]
        try:
            ray.get(self._dealer.give_keys.remote(self._parties), timeout=self.timeout + 60)
            if direct_links:
                secret = secrets.token_bytes(32)          # only this session's parties and dealer may connect
                addresses = ray.get([a.listen.remote(secret) for a in [*self._parties, self._dealer]],
                                    timeout=self.timeout + 60)
                self.link_addresses = addresses
                ray.get([a.link.remote(addresses) for a in [*self._parties, self._dealer]], timeout=self.timeout + 60)
                self._open_driver_link(secret, addresses[:n_parties])
            ray.get([p.start.remote(self._parties, self._dealer, protocol, costs) for p in self._parties],
                    timeout=self.timeout + 60)
        except Exception:
            self._shutdown()
            raise

    def _open_driver_link(self, secret: bytes, addresses: list[tuple[str, int]]) -> None:
        """The driver's own link to every party: ops go out as frames, results come back."""
        from ._sockets import SocketLinks

        self._answers = _Answers(self.n_parties)
        self._seq = 0
        self._asked = 0                 # the last op sent with an answer wanted
        self._queued: list[list[tuple[list, list]]] = [[] for _ in range(self.n_parties)]
        self._unreachable: set[int] = set()   # parties whose link broke

        def deliver(src: int, tag: Any, arrays: list[Any]) -> None:
            if isinstance(tag, tuple) and len(tag) >= 2 and tag[0] in ("ok", "err") and 0 <= src < self.n_parties:
                self._answers.put(src, tag, arrays)

        self._links = SocketLinks(self.n_parties + 1, secret, deliver)
        for rank, (host, port) in enumerate(addresses):
            self._links.connect(rank, host, port)

    def _submit(self, op, args_per_party, out, frees, answer: bool = False):
        """Queue the op for the driver's links; a ticket for ``_collect``, or None when an
        argument cannot travel in a frame (the op then goes as a Ray call, after the queue is
        flushed by the settling that precedes it). A party answers a pipelined op only if it
        fails: the answer to a later op says it is done. Ops go out in batches: when one wants
        an answer, or ``OPS_PER_FRAME`` are queued."""
        from ._sockets import encode

        if getattr(self, "_links", None) is None or op not in PLAIN_RESULT_OPS:
            return None
        entries: list = []
        try:
            for args in args_per_party:
                if entries and args is args_per_party[0]:
                    entries.append(entries[0])             # the same arguments for every party: encoded once
                    continue
                arrays: list = []
                entries.append((encode(tuple(args), arrays), arrays))
        except TypeError:
            return None
        self._seq += 1
        seq = self._seq
        answer = answer or seq % ANSWER_EVERY == 0     # so that a full pipeline rarely needs a barrier
        if answer:
            self._asked = seq
        items: dict[int, tuple] = {}
        for rank, (args, arrays) in enumerate(entries):
            item = items.get(id(args))
            if item is None:
                item = items[id(args)] = ([seq, op, out, args, list(frees), answer, len(arrays)], arrays)
            self._queued[rank].append(item)
        if answer or len(self._queued[0]) >= OPS_PER_FRAME:
            self._flush()
        return seq

    def _flush(self) -> None:
        """Send every queued op, one frame per party (built once for the parties whose ops
        are the same)."""
        from ._sockets import frame

        built: list[tuple[list, Any]] = []
        for rank, queued in enumerate(self._queued):
            if not queued or rank in self._unreachable:
                queued.clear()
                continue
            pieces = next((p for q, p in built if len(q) == len(queued) and all(a is b for a, b in zip(q, queued))),
                          None)
            if pieces is None:
                entries = [entry for entry, _ in queued]
                pieces = frame(["ops", entries], [a for _, group in queued for a in group])
                built.append((list(queued), pieces))
            queued.clear()
            try:
                self._links.send_frame(rank, *pieces)
            except OSError:
                self._unreachable.add(rank)                # its answers will never come: said at once

    def _collect(self, op, ticket):
        import time

        from ._sockets import decode

        seq = ticket
        barrier = None
        if self._asked < seq:           # nothing sent since asks for an answer: ask now
            barrier = self._submit("sync", [()] * self.n_parties, None, (), answer=True)
        unreachable = self._unreachable
        deadline = time.monotonic() + self.timeout + DRIVER_GRACE
        outcomes = []
        for rank in range(self.n_parties):
            if rank in unreachable:
                error = PartyTimeoutError(f"the driver's link to party {rank} is broken; the party may have died.",
                                          party=f"party {rank}")
                error.from_driver = True
                outcomes.append(("error", error))
                continue
            got = self._answers.take(rank, seq, max(0.0, deadline - time.monotonic()),
                                     seq if barrier is None else barrier)
            if got is None:
                outcomes.append(("error", self._timeout_error(rank, op)))
                continue
            tag, arrays = got
            if tag[0] == "ok":
                outcomes.append(("ok", decode(tag[2], arrays) if tag[1] == seq else None))
            else:
                outcomes.append(("error", _rebuilt(tag[2], tag[3], tag[4])))
        return outcomes

    @property
    def party_actors(self) -> list[Any]:
        return list(self._parties)

    @property
    def dealer_actor(self) -> Any:
        return self._dealer

    def _execute(self, op, args_per_party, out, frees):
        ticket = self._submit(op, args_per_party, out, frees, answer=True)
        if ticket is not None:
            return self._collect(op, ticket)
        ray = _ray()
        refs = [p.run.remote(op, out, args, frees) for p, args in zip(self._parties, args_per_party)]
        ready, _ = ray.wait(refs, num_returns=len(refs), timeout=self.timeout + DRIVER_GRACE)
        ready_set = set(ready)
        outcomes = []
        for rank, ref in enumerate(refs):
            if ref not in ready_set:
                outcomes.append(("error", self._timeout_error(rank, op)))
                continue
            try:
                outcomes.append(("ok", ray.get(ref)))
            except ray.exceptions.RayActorError:
                died = PartyTimeoutError(f"party {rank} died during {op!r}.", party=f"party {rank}")
                died.from_driver = True
                outcomes.append(("error", died))
            except ray.exceptions.RayTaskError as exc:
                cause = exc.cause if isinstance(getattr(exc, "cause", None), BaseException) else exc
                outcomes.append(("error", cause))
        return outcomes

    def _party_stats(self):
        ray = _ray()
        return ray.get([p.stats.remote() for p in self._parties], timeout=self.timeout)

    def _dealer_stats(self):
        return _ray().get(self._dealer.stats.remote(), timeout=self.timeout)

    def _reset_stats(self) -> None:
        ray = _ray()
        ray.get([p.reset_stats.remote() for p in self._parties] + [self._dealer.reset_stats.remote()],
                timeout=self.timeout)

    def received_messages(self, rank: int) -> list[Any]:
        """What party ``rank`` received (only with ``record_messages=True``)."""
        self.sync()
        return _ray().get(self._parties[rank].received_messages.remote(), timeout=self.timeout)

    def _shutdown(self) -> None:
        if getattr(self, "_links", None) is not None:
            self._links.close()
        ray = _ray()
        for actor in [*getattr(self, "_parties", []), getattr(self, "_dealer", None)]:
            if actor is not None:
                try:
                    ray.kill(actor)
                except Exception:  # an actor that is already gone needs no killing
                    pass
