"""Direct TCP links between party actors: a protocol round without a Ray call per message.

Each party actor listens on its node's address (an ephemeral port) and connects to every
peer once, when the session starts. A connection opens with the session's link secret (32
random bytes the driver hands to its own party actors; compared in constant time), so only
the session's parties can feed a party. Messages are framed as

    magic 'SCD2' | meta length (u32) | body length (u64) | meta | body
    meta: JSON [tag, [[dtype, shape], ...]]; body: the arrays' bytes, each padded to 8

and read straight into numpy arrays (no pickle: a peer can send arrays and a tag, nothing
that runs; only boolean, integer, float and complex dtypes are accepted).

Two ways to receive:

- threaded (the driver, the dealer): a reader thread per connection hands each frame to a
  callback;
- direct (a party): no reader threads; the party's own thread reads the connection of the
  peer it waits for (``take``) and keeps frames that arrive ahead of their turn. A message
  then wakes one thread, not a reader thread that wakes the party thread: on a busy node
  that halves the thread switches per round. Messages that travel as Ray calls instead
  (arrays that are not numpy, a broken link) are ``put`` into the same inbox.
"""

from __future__ import annotations

import hmac
import json
import math
import select
import socket
import struct
import threading
import time
from typing import Any, Callable

import numpy as np

__all__ = ["SocketLinks", "SECRET_BYTES", "dealer_answer", "dealer_reply", "encode", "decode"]

SECRET_BYTES = 32
_MAGIC = b"SCD2"
# A write to a peer that died must raise (and the waiting side time out, naming it), not kill
# this process with SIGPIPE (a Ray worker may run with the default SIGPIPE action).
_NOSIGNAL = getattr(socket, "MSG_NOSIGNAL", 0)
_HEAD = struct.Struct("<4sIQ")
_MAX_META = 1 << 20
_MAX_ARRAYS = 4096
_KINDS = frozenset("biufc")
_BUFFER = 1 << 18            # a frame up to this size is read with the reads that fill the buffer
_ENCODER = json.JSONEncoder(separators=(",", ":"))
_DECODER = json.JSONDecoder()
_DTYPES: dict[str, np.dtype] = {}


def _pad(n: int) -> int:
    return -n % 8


def _tag_json(tag: Any) -> Any:
    return list(tag) if isinstance(tag, tuple) else tag


def _tag_back(tag: Any) -> Any:
    return tuple(tag) if isinstance(tag, list) else tag


def frame(tag: Any, arrays: list[np.ndarray]) -> tuple[list[Any], int]:
    """A frame's pieces (header, meta, then each array's bytes and padding) and total size."""
    metas, body, size = [], [], 0
    for a in arrays:
        a = a if a.flags.c_contiguous else np.ascontiguousarray(a)
        metas.append([a.dtype.str, list(a.shape)])
        if a.nbytes:
            body.append(memoryview(a.reshape(-1).view(np.uint8)))
        pad = _pad(a.nbytes)
        if pad:
            body.append(bytes(pad))
        size += a.nbytes + pad
    meta = _ENCODER.encode([_tag_json(tag), metas]).encode()
    return [_HEAD.pack(_MAGIC, len(meta), size), meta, *body], _HEAD.size + len(meta) + size


def _dtype(name: Any) -> np.dtype:
    dtype = _DTYPES.get(name)
    if dtype is None:
        dtype = np.dtype(name)
        if dtype.kind not in _KINDS or dtype.hasobject or dtype.fields is not None:
            raise ConnectionError("only numeric arrays travel over links")
        if len(_DTYPES) < 64:
            _DTYPES[name] = dtype
    return dtype


def _layout(meta: bytes, body_len: int) -> tuple[Any, list[tuple[np.dtype, tuple, int, int]]]:
    """The tag and (dtype, shape, offset, size) of each array, checked against the body's
    length."""
    tag, metas = _DECODER.decode(meta.decode())
    if not isinstance(metas, list) or len(metas) > _MAX_ARRAYS:
        raise ConnectionError("malformed frame")
    layout, offset = [], 0
    for name, shape in metas:
        dtype = _dtype(name)
        shape = tuple(shape)
        if not all(type(s) is int and s >= 0 for s in shape):
            raise ConnectionError("malformed frame")
        nbytes = math.prod(shape) * dtype.itemsize
        layout.append((dtype, shape, offset, nbytes))
        offset += nbytes + _pad(nbytes)
    if offset != body_len:
        raise ConnectionError("frame size mismatch")
    return _tag_back(tag), layout


def _arrays(body: np.ndarray, layout: list[tuple[np.dtype, tuple, int, int]]) -> list[np.ndarray]:
    return [body[offset:offset + n].view(dtype).reshape(shape) for dtype, shape, offset, n in layout]


class _Reader:
    """The frames of one connection, parsed from this reader's own buffer: a small frame
    costs one system call, a large body is read straight into its array."""

    def __init__(self, sock: socket.socket, initial: bytes = b"") -> None:
        self.sock = sock
        self._buf = bytearray(max(_BUFFER, len(initial)))
        self._buf[:len(initial)] = initial
        self._lo, self._hi = 0, len(initial)

    def _fill(self, n: int) -> None:
        """At least ``n`` bytes in the buffer (blocking; the socket's timeout applies)."""
        if self._hi - self._lo >= n:
            return
        if self._lo + n > len(self._buf):                       # move what is left to the front
            kept = self._hi - self._lo
            if n > len(self._buf):
                grown = bytearray(n)
                grown[:kept] = self._buf[self._lo:self._hi]
                self._buf = grown
            else:
                self._buf[:kept] = self._buf[self._lo:self._hi]
            self._lo, self._hi = 0, kept
        view = memoryview(self._buf)
        while self._hi - self._lo < n:
            k = self.sock.recv_into(view[self._hi:])
            if not k:
                raise ConnectionError("peer closed the link")
            self._hi += k

    def has_frame(self) -> bool:
        """A whole frame is already in the buffer."""
        avail = self._hi - self._lo
        if avail < _HEAD.size:
            return False
        _, meta_len, body_len = _HEAD.unpack_from(self._buf, self._lo)
        return avail >= _HEAD.size + meta_len + body_len

    def read(self) -> tuple[Any, list[np.ndarray]]:
        """The next frame (blocking); ConnectionError for a closed link or a malformed frame."""
        self._fill(_HEAD.size)
        magic, meta_len, body_len = _HEAD.unpack_from(self._buf, self._lo)
        if magic != _MAGIC or meta_len > _MAX_META:
            raise ConnectionError("malformed frame")
        start = self._lo + _HEAD.size
        if _HEAD.size + meta_len + body_len <= len(self._buf):
            self._fill(_HEAD.size + meta_len + body_len)
            start = self._lo + _HEAD.size
            tag, layout = _layout(bytes(self._buf[start:start + meta_len]), body_len)
            body = np.frombuffer(self._buf, np.uint8, body_len, start + meta_len).copy()
            self._lo = start + meta_len + body_len
        else:
            self._fill(_HEAD.size + meta_len)
            start = self._lo + _HEAD.size
            tag, layout = _layout(bytes(self._buf[start:start + meta_len]), body_len)
            body = np.empty(body_len, np.uint8)
            got = self._hi - (start + meta_len)                 # what the buffer already holds
            body[:got] = np.frombuffer(self._buf, np.uint8, got, start + meta_len)
            self._lo = self._hi = 0
            view = memoryview(body)
            while got < body_len:
                k = self.sock.recv_into(view[got:])
                if not k:
                    raise ConnectionError("peer closed the link")
                got += k
        if self._lo == self._hi:
            self._lo = self._hi = 0
        return tag, _arrays(body, layout)


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray(n)
    view, got = memoryview(buf), 0
    while got < n:
        k = sock.recv_into(view[got:], n - got)
        if k == 0:
            raise ConnectionError("peer closed the link")
        got += k
    return bytes(buf)


class SocketLinks:
    """One party's listener and its connections to the other parties.

    ``direct=False``: every frame received is handed to ``deliver(src, tag, arrays)`` by a
    reader thread. ``direct=True``: frames wait in their connection until the owner asks for
    them (``take``, ``next_frame``), and ``observer(src, tag, arrays)``, when set, sees each
    frame ``take`` reads; the peers in ``threaded`` keep a reader thread and ``deliver`` (a
    party's dealer: its large answers then stream in while the party computes, instead of
    when the party asks for them).
    """

    def __init__(self, rank: int, secret: bytes, deliver: Callable[[int, Any, list], None] | None = None,
                 *, direct: bool = False, threaded: tuple[int, ...] = ()) -> None:
        if not isinstance(secret, bytes) or len(secret) != SECRET_BYTES:
            raise ValueError("a link secret is 32 bytes")
        self.rank, self._secret, self._deliver, self.direct = rank, secret, deliver, direct
        self._threaded = frozenset(threaded)      # direct mode: peers still read by a reader thread
        self._server = socket.create_server(("0.0.0.0", 0), backlog=64)
        self._out: dict[int, socket.socket] = {}
        self._locks: dict[int, threading.Lock] = {}
        self._gone: set[int] = set()              # peers whose sending connection was closed
        self._closed = False
        # direct mode: a reader per accepted connection, frames read ahead, a wake-up socket
        self._readers: dict[int, _Reader] = {}
        self._items: dict[tuple[int, Any], list[Any]] = {}
        self._items_lock = threading.Lock()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._polls: dict[int, Any] = {}
        self._backlog: dict[int, list[list[Any]]] = {}     # direct mode: frames a sender thread is sending
        self._draining: set[int] = set()                  # peers whose sender thread runs
        self._arrived = threading.Condition()
        self.observer: Callable[[int, Any, list], None] | None = None
        threading.Thread(target=self._accept, name=f"secured-links-{rank}", daemon=True).start()

    @property
    def port(self) -> int:
        return self._server.getsockname()[1]

    # -- accepting ----------------------------------------------------------------------------------
    def _accept(self) -> None:
        while not self._closed:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn.settimeout(30)
            hello = _recv_exact(conn, SECRET_BYTES + 4)
            if not hmac.compare_digest(hello[:SECRET_BYTES], self._secret):
                conn.close()                                  # not one of this session's parties
                return
            src = struct.unpack("<I", hello[SECRET_BYTES:])[0]
            conn.settimeout(None)
            if src not in self._out:                      # answer over the caller's connection (the driver)
                self._out[src], self._locks[src] = conn, threading.Lock()
        except (ConnectionError, OSError, struct.error):
            conn.close()
            return
        if self.direct and src not in self._threaded:
            if src in self._readers or self._closed:          # one connection per peer
                conn.close()
                return
            self._readers[src] = _Reader(conn)
            with self._arrived:
                self._arrived.notify_all()
            self._wake()
            return
        self._read_frames(conn, src)

    def _read_frames(self, conn: socket.socket, src: int) -> None:
        reader = _Reader(conn)
        try:
            while True:
                tag, arrays = reader.read()
                self._deliver(src, tag, arrays)
        except (ConnectionError, OSError, ValueError, TypeError, struct.error):
            pass                                              # the waiting party times out, naming the peer
        finally:
            if self._out.get(src) is conn:                    # what we send on is closed: later sends fail at once
                self._gone.add(src)
            conn.close()

    # -- receiving in direct mode -------------------------------------------------------------------
    def _wake(self) -> None:
        try:
            self._wake_w.send(b"\0", _NOSIGNAL)
        except OSError:                                       # closed, or already full of wake-ups
            pass

    def put(self, src: int, tag: Any, arrays: list[Any]) -> None:
        """A message that came another way (a Ray call), for ``take``."""
        with self._items_lock:
            self._items[(src, tag)] = arrays
        self._wake()

    def _drop(self, src: int) -> None:
        reader = self._readers.pop(src, None)
        self._polls.pop(src, None)
        if reader is not None:
            try:
                reader.sock.close()
            except OSError:
                pass

    def _poll(self, src: int, reader: _Reader | None) -> Any:
        """A poll object over the wake-up socket and ``src``'s connection (when there is one)."""
        slot = src if reader is not None else -1
        poll = self._polls.get(slot)
        if poll is None:
            poll = self._polls[slot] = select.poll()
            poll.register(self._wake_r, select.POLLIN)
            if reader is not None:
                poll.register(reader.sock, select.POLLIN)
        return poll

    def take(self, src: int, tag: Any, timeout: float) -> list[Any] | None:
        """What ``src`` sent under ``tag``, reading ``src``'s connection in this thread (frames
        under other tags are kept for later); None after ``timeout`` seconds or once closed.
        One thread at a time may take from a given peer."""
        key = (src, tag)
        deadline = time.monotonic() + timeout
        while True:
            if self._items:
                with self._items_lock:
                    got = self._items.pop(key, None)
                if got is not None:
                    return got
            if self._closed:
                return None
            reader = self._readers.get(src)
            if reader is not None and reader.has_frame():
                got = self._read_from(src, reader, key)
                if got is not None:
                    return got
                continue
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready = [fd for fd, _ in self._poll(src, reader).poll(left * 1000)]
            wake = self._wake_r.fileno()
            if reader is not None and any(fd != wake for fd in ready):
                reader.sock.settimeout(max(left, 0.001))          # the rest of a frame that has begun
                got = self._read_from(src, reader, key)
                if got is not None:
                    return got
            if wake in ready:
                try:
                    while self._wake_r.recv(4096):
                        pass
                except OSError:
                    pass

    def _read_from(self, src: int, reader: _Reader, key: tuple[int, Any]) -> list[Any] | None:
        try:
            tag, arrays = reader.read()
        except (ConnectionError, OSError, ValueError, TypeError, struct.error):
            self._drop(src)                                   # a closed or bad link: wait out the timeout
            return None
        if self.observer is not None:
            self.observer(src, tag, arrays)
        if (src, tag) == key:
            return arrays
        with self._items_lock:
            self._items[(src, tag)] = arrays
        return None

    def next_frame(self, src: int) -> tuple[Any, list[np.ndarray]] | None:
        """The next frame from ``src`` (blocking: the thread that serves ``src``); None once the
        link closes."""
        with self._arrived:
            self._arrived.wait_for(lambda: src in self._readers or self._closed)
        reader = self._readers.get(src)
        if reader is None:
            return None
        try:
            reader.sock.settimeout(None)
            return reader.read()
        except (ConnectionError, OSError, ValueError, TypeError, struct.error):
            self._drop(src)
            return None

    # -- sending ------------------------------------------------------------------------------------
    def connect(self, dst: int, host: str, port: int) -> None:
        sock = socket.create_connection((host, port), timeout=30)
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(self._secret + struct.pack("<I", self.rank), _NOSIGNAL)
        self._out[dst], self._locks[dst] = sock, threading.Lock()
        if not self.direct:   # the peer may answer over this connection (a party answering the driver)
            threading.Thread(target=self._read_frames, args=(sock, dst), daemon=True).start()

    def has(self, dst: int) -> bool:
        return dst in self._out

    def can_send(self, dst: int, arrays: list[Any]) -> bool:
        return dst in self._out and all(isinstance(a, np.ndarray) and a.dtype.kind in _KINDS for a in arrays)

    def send(self, dst: int, tag: Any, arrays: list[np.ndarray]) -> None:
        """Send a frame to ``dst``. In direct mode this never blocks: what the connection does
        not take at once goes to a sender thread for ``dst`` (frames stay in order), so two
        parties sending each other large arrays cannot wait on each other while neither
        reads (their own thread reads only when it waits)."""
        self.send_frame(dst, *frame(tag, arrays))

    def send_frame(self, dst: int, pieces: list[Any], total: int) -> None:
        """``send`` of a frame already built (``frame``): the same frame to several peers is
        built once."""
        if dst in self._gone:
            raise ConnectionResetError(f"the link to {dst} was closed by the peer")
        sock = self._out[dst]
        if not self.direct:
            with self._locks[dst]:
                if total <= 1 << 20:                      # one write: one packet for a small round
                    sock.sendall(b"".join(pieces), _NOSIGNAL)
                else:
                    for piece in pieces:
                        sock.sendall(piece, _NOSIGNAL)
            return
        with self._locks[dst]:
            if not self._backlog.get(dst) and total <= 1 << 20:
                data = b"".join(pieces)
                try:
                    sent = sock.send(data, _NOSIGNAL | socket.MSG_DONTWAIT)
                except BlockingIOError:
                    sent = 0
                if sent == total:
                    return
                pieces = [memoryview(data)[sent:]]
            self._backlog.setdefault(dst, []).append(pieces)
            if dst not in self._draining:
                self._draining.add(dst)
                threading.Thread(target=self._drain, args=(dst, sock), name=f"secured-send-{self.rank}-{dst}",
                                 daemon=True).start()

    def _drain(self, dst: int, sock: socket.socket) -> None:
        """Send ``dst``'s backlog in order (blocking), then end."""
        lock = self._locks[dst]
        while True:
            with lock:
                queue = self._backlog[dst]
                if not queue:
                    self._draining.discard(dst)
                    return
                pieces = queue[0]
            try:
                for piece in pieces:
                    sock.sendall(piece, _NOSIGNAL)
            except OSError:
                self._gone.add(dst)                           # later sends fail at once; the peer times out
                with lock:
                    self._backlog[dst] = []
                    self._draining.discard(dst)
                return
            with lock:
                queue.pop(0)

    def close(self) -> None:
        self._closed = True
        with self._arrived:
            self._arrived.notify_all()
        self._wake()
        readers = [r.sock for r in list(self._readers.values())]
        for sock in [self._server, *self._out.values(), *readers]:
            try:
                if sock is not self._server:
                    sock.shutdown(socket.SHUT_RDWR)   # a thread blocked reading it wakes up
                sock.close()
            except OSError:
                pass


def dealer_answer(kind: str, values: Any) -> list[np.ndarray]:
    """A dealer's answer as arrays: corrections as they are; an FSS key as its arrays
    (``secured.mpc.fss.key_arrays``: a metadata array, then the key's parts)."""
    if kind == "corr":
        return [np.asarray(v) for v in values]
    from ..mpc.fss import key_arrays

    return key_arrays(values)


def dealer_reply(kind: str, arrays: list[np.ndarray]) -> Any:
    """The inverse of ``dealer_answer`` on the party's side."""
    if kind == "corr":
        return arrays
    from ..mpc.fss import key_from_arrays

    return key_from_arrays(arrays)


def encode(value: Any, arrays: list) -> Any:
    """``value`` as tagged JSON with its numpy arrays moved to ``arrays`` (an op's arguments or
    result); TypeError for anything else (the caller then uses Ray)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            raise TypeError("object arrays do not travel over links")
        arrays.append(value)
        return {"a": len(arrays) - 1}
    if isinstance(value, np.generic):
        arrays.append(np.asarray(value))
        return {"s": len(arrays) - 1}
    if isinstance(value, tuple):
        return {"t": [encode(v, arrays) for v in value]}
    if isinstance(value, list):
        return {"l": [encode(v, arrays) for v in value]}
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {"d": {k: encode(v, arrays) for k, v in value.items()}}
    if isinstance(value, slice):
        return {"sl": [encode(value.start, arrays), encode(value.stop, arrays), encode(value.step, arrays)]}
    if value is Ellipsis:
        return {"e": 1}
    raise TypeError(f"{type(value).__name__} does not travel over links")


def decode(value: Any, arrays: list) -> Any:
    if isinstance(value, dict):
        (kind, body), = value.items()
        if kind == "a":
            return arrays[body]
        if kind == "s":
            return arrays[body][()]
        if kind == "t":
            return tuple(decode(v, arrays) for v in body)
        if kind == "l":
            return [decode(v, arrays) for v in body]
        if kind == "d":
            return {k: decode(v, arrays) for k, v in body.items()}
        if kind == "sl":
            return slice(*(decode(v, arrays) for v in body))
        if kind == "e":
            return Ellipsis
        raise ValueError("unknown tag")
    return value
