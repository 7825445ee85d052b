"""Communicators: how parties exchange shares, and how much they send.

A communicator is one party's endpoint. ``exchange`` sends this party's arrays to every other
party and returns what each of them sent, as one communication round; the counters record the
bytes this party sent and the rounds it took part in. Protocol code only uses this interface,
so the same code runs on the in-process communicator (threads and queues, for tests and
one-node speed) and on the Ray communicator (actors, ``secured.cluster``).
"""

from __future__ import annotations

import abc
import threading
from dataclasses import dataclass, field
from typing import Any

from ..exceptions import PartyTimeoutError

__all__ = ["CommStats", "Communicator", "ThreadCommunicator", "make_thread_communicators",
           "close_all", "payload_bytes", "Network"]


@dataclass
class CommStats:
    """Bytes sent and rounds taken part in, for one party."""

    bytes_sent: int = 0
    rounds: int = 0
    messages: int = 0
    by_op: dict[str, list[int]] = field(default_factory=dict)  # op -> [bytes, rounds]

    def record(self, op: str, nbytes: int, rounds: int) -> None:
        self.bytes_sent += nbytes
        self.rounds += rounds
        entry = self.by_op.setdefault(op, [0, 0])
        entry[0] += nbytes
        entry[1] += rounds

    def snapshot(self) -> dict[str, Any]:
        return {"bytes_sent": self.bytes_sent, "rounds": self.rounds, "messages": self.messages,
                "by_op": {k: tuple(v) for k, v in self.by_op.items()}}


@dataclass(frozen=True)
class Network:
    """A simulated link for benchmarks: every round waits ``latency`` seconds (count a round
    trip: a party sends, then waits for what its peers sent) plus the bytes it sent over
    ``bandwidth`` bytes per second. ``Network(0.020, 125e6)``: a 20 ms WAN at 1 Gbit/s."""

    latency: float = 0.0
    bandwidth: float = float("inf")

    def __post_init__(self) -> None:
        if not (self.latency >= 0 and self.bandwidth > 0):
            from ..exceptions import ConfigurationError

            raise ConfigurationError("A network needs latency >= 0 seconds and bandwidth > 0 bytes per second.")

    def delay(self, nbytes: int) -> float:
        return self.latency + nbytes / self.bandwidth


def payload_bytes(arrays: list[Any]) -> int:
    return int(sum(a.nbytes for a in arrays))


class Communicator(abc.ABC):
    """One party's endpoint. Subclasses implement ``_send`` and ``_recv``."""

    def __init__(self, rank: int, n_parties: int, timeout: float) -> None:
        self.rank = rank
        self.n_parties = n_parties
        self.timeout = timeout
        self.stats = CommStats()
        self._tag = 0
        self._p2p_sent: dict[int, int] = {}
        self._p2p_recv: dict[int, int] = {}
        self.op = "other"  # the protocol step being counted
        self.network: Network | None = None   # a simulated link (benchmarks); None: as fast as it goes

    def exchange(self, arrays: list[Any]) -> list[list[Any]]:
        """Send ``arrays`` to every other party; return each party's arrays (ours at our rank).

        One round. Every party must call it the same number of times in the same order (the
        protocol code is the same on every party, so it does).
        """
        self._tag += 1
        tag = self._tag
        nbytes = payload_bytes(arrays)
        for dst in range(self.n_parties):
            if dst != self.rank:
                self._send(dst, tag, arrays)
                self.stats.messages += 1
        self.stats.record(self.op, nbytes * (self.n_parties - 1), 1)
        if self.network is not None:
            import time

            time.sleep(self.network.delay(nbytes * (self.n_parties - 1)))
        return [arrays if src == self.rank else self._recv(src, tag) for src in range(self.n_parties)]

    def send_one(self, dst: int, arrays: list[Any]) -> None:
        """Send to one party only (counted as bytes; the caller counts the round)."""
        seq = self._p2p_sent.get(dst, 0) + 1
        self._p2p_sent[dst] = seq
        self._send(dst, ("p2p", seq), arrays)
        self.stats.messages += 1
        self.stats.record(self.op, payload_bytes(arrays), 0)

    def recv_one(self, src: int) -> list[Any]:
        seq = self._p2p_recv.get(src, 0) + 1
        self._p2p_recv[src] = seq
        return self._recv(src, ("p2p", seq))

    @abc.abstractmethod
    def _send(self, dst: int, tag: Any, arrays: list[Any]) -> None:
        """Deliver ``arrays`` to party ``dst`` under ``tag``."""

    @abc.abstractmethod
    def _recv(self, src: int, tag: Any) -> list[Any]:
        """Wait (up to the timeout) for what party ``src`` sent under ``tag``."""


class Mailbox:
    """A party's inbox: messages keyed by (source, tag), waited on with a timeout."""

    def __init__(self) -> None:
        self._items: dict[tuple[int, Any], list[Any]] = {}
        self._cond = threading.Condition()
        self.closed = False

    def put(self, src: int, tag: Any, arrays: list[Any]) -> None:
        with self._cond:
            self._items[(src, tag)] = arrays
            self._cond.notify_all()

    def take(self, src: int, tag: Any, timeout: float) -> list[Any] | None:
        with self._cond:
            ok = self._cond.wait_for(lambda: (src, tag) in self._items or self.closed, timeout)
            if not ok or (src, tag) not in self._items:
                return None
            return self._items.pop((src, tag))

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()


class MailboxCommunicator(Communicator):
    """An endpoint whose messages arrive in its own ``Mailbox``; receiving (wait, time out,
    name the silent peer) is the same whatever carries the messages, so it lives here once.
    Subclasses implement ``_send``."""

    def __init__(self, rank: int, n_parties: int, timeout: float, inbox: Mailbox) -> None:
        super().__init__(rank, n_parties, timeout)
        self.inbox = inbox

    def _recv(self, src: int, tag: Any) -> list[Any]:
        got = self.inbox.take(src, tag, self.timeout)
        if got is None:
            raise PartyTimeoutError(
                f"party {src} sent nothing to party {self.rank} within {self.timeout:g} s; it "
                "may have died or stalled. Recreate the session.", party=f"party {src}")
        return got


class ThreadCommunicator(MailboxCommunicator):
    """In-process endpoint: parties are threads of one process, messages go through mailboxes.

    Arrays are passed by reference (no copy); protocol code never mutates a received array.
    An optional ``observer(src, dst, arrays)`` sees every message (used by the tests that
    check what parties receive).
    """

    def __init__(self, rank: int, mailboxes: list[Mailbox], timeout: float, observer=None) -> None:
        super().__init__(rank, len(mailboxes), timeout, mailboxes[rank])
        self._mailboxes = mailboxes
        self._observer = observer

    def _send(self, dst: int, tag: Any, arrays: list[Any]) -> None:
        if self._observer is not None:
            self._observer(self.rank, dst, arrays)
        self._mailboxes[dst].put(self.rank, tag, arrays)


def make_thread_communicators(n_parties: int, timeout: float, observer=None,
                              network: Network | None = None) -> list[ThreadCommunicator]:
    boxes = [Mailbox() for _ in range(n_parties)]
    comms = [ThreadCommunicator(r, boxes, timeout, observer) for r in range(n_parties)]
    for c in comms:
        c.network = network
    return comms


def close_all(comms: list[ThreadCommunicator]) -> None:
    for box in comms[0]._mailboxes:
        box.close()

