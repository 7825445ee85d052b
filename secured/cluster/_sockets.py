"""Direct TCP links between party actors: a protocol round without a Ray call per message.

Each party actor listens on its node's address (an ephemeral port) and connects to every
peer once, when the session starts. A connection opens with the session's link secret (32
random bytes the driver hands to its own party actors; compared in constant time), so only
the session's parties can feed a party's mailbox. Messages are framed as

    magic 'SCD1' | tag length (u32) | number of arrays (u32) | tag (JSON) |
    per array: dtype length (u8) | dtype | ndim (u8) | shape (u64 each) | nbytes (u64) | bytes

and read straight into numpy arrays (no pickle: a peer can send arrays and a tag, nothing
that runs). Receiving is the mailbox's, so timeouts, counters and error messages are the same
as on the Ray path. Arrays that are not numpy (cupy on a GPU) go through Ray's ``deliver``.
"""

from __future__ import annotations

import hmac
import json
import socket
import struct
import threading
from typing import Any, Callable

import numpy as np

__all__ = ["SocketLinks", "SECRET_BYTES", "dealer_answer", "dealer_reply", "encode", "decode"]

SECRET_BYTES = 32
_MAGIC = b"SCD1"
# A write to a peer that died must raise (and the waiting side time out, naming it), not kill
# this process with SIGPIPE (a Ray worker may run with the default SIGPIPE action).
_NOSIGNAL = getattr(socket, "MSG_NOSIGNAL", 0)
_HEAD = struct.Struct("<4sII")


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray(n)
    view, got = memoryview(buf), 0
    while got < n:
        k = sock.recv_into(view[got:], n - got)
        if k == 0:
            raise ConnectionError("peer closed the link")
        got += k
    return bytes(buf)


def _read_exact(reader: Any, n: int) -> bytes:
    data = reader.read(n)
    if len(data) != n:
        raise ConnectionError("peer closed the link")
    return data


def _read_into(reader: Any, array: np.ndarray) -> None:
    n = array.nbytes
    view, got = memoryview(array.reshape(-1).view(np.uint8)), 0
    while got < n:
        k = reader.readinto(view[got:])
        if not k:
            raise ConnectionError("peer closed the link")
        got += k


def _tag_json(tag: Any) -> Any:
    return list(tag) if isinstance(tag, tuple) else tag


def _tag_back(tag: Any) -> Any:
    return tuple(tag) if isinstance(tag, list) else tag


class SocketLinks:
    """One party's listener and its connections to the other parties."""

    def __init__(self, rank: int, secret: bytes, deliver: Callable[[int, Any, list], None]) -> None:
        if not isinstance(secret, bytes) or len(secret) != SECRET_BYTES:
            raise ValueError("a link secret is 32 bytes")
        self.rank, self._secret, self._deliver = rank, secret, deliver
        self._server = socket.create_server(("0.0.0.0", 0), backlog=64)
        self._out: dict[int, socket.socket] = {}
        self._locks: dict[int, threading.Lock] = {}
        self._gone: set[int] = set()              # peers whose sending connection was closed
        self._closed = False
        threading.Thread(target=self._accept, name=f"secured-links-{rank}", daemon=True).start()

    @property
    def port(self) -> int:
        return self._server.getsockname()[1]

    # -- receiving ----------------------------------------------------------------------------------
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
            hello = _recv_exact(conn, SECRET_BYTES + 4)
            if not hmac.compare_digest(hello[:SECRET_BYTES], self._secret):
                conn.close()                                  # not one of this session's parties
                return
            src = struct.unpack("<I", hello[SECRET_BYTES:])[0]
            if src not in self._out:                      # answer over the caller's connection (the driver)
                self._out[src], self._locks[src] = conn, threading.Lock()
        except (ConnectionError, OSError, struct.error):
            conn.close()
            return
        self._read_frames(conn, src)

    def _read_frames(self, conn: socket.socket, src: int) -> None:
        # A buffered reader: a small frame (a round's message, an op) costs one system call,
        # not one per header field; large arrays are read straight into place.
        reader = conn.makefile("rb", buffering=1 << 16)
        try:
            while True:
                magic, tag_len, count = _HEAD.unpack(_read_exact(reader, _HEAD.size))
                if magic != _MAGIC or tag_len > 1 << 20 or count > 4096:
                    raise ConnectionError("malformed frame")
                tag = _tag_back(json.loads(_read_exact(reader, tag_len)))
                arrays = []
                for _ in range(count):
                    dlen = _read_exact(reader, 1)[0]
                    dtype = np.dtype(_read_exact(reader, dlen).decode("ascii"))
                    if dtype.hasobject:
                        raise ConnectionError("object arrays are refused")
                    ndim = _read_exact(reader, 1)[0]
                    shape = struct.unpack(f"<{ndim}Q", _read_exact(reader, 8 * ndim)) if ndim else ()
                    nbytes = struct.unpack("<Q", _read_exact(reader, 8))[0]
                    array = np.empty(shape, dtype=dtype)
                    if array.nbytes != nbytes:
                        raise ConnectionError("frame size mismatch")
                    _read_into(reader, array)
                    arrays.append(array)
                self._deliver(src, tag, arrays)
        except (ConnectionError, OSError, ValueError, TypeError, struct.error):
            pass                                              # the waiting party times out, naming the peer
        finally:
            if self._out.get(src) is conn:                    # what we send on is closed: later sends fail at once
                self._gone.add(src)
            try:
                reader.close()
            except OSError:
                pass
            conn.close()

    # -- sending ------------------------------------------------------------------------------------
    def connect(self, dst: int, host: str, port: int) -> None:
        sock = socket.create_connection((host, port), timeout=30)
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(self._secret + struct.pack("<I", self.rank), _NOSIGNAL)
        self._out[dst], self._locks[dst] = sock, threading.Lock()
        # the peer may answer over this connection (a party answering the driver)
        threading.Thread(target=self._read_frames, args=(sock, dst), daemon=True).start()

    def has(self, dst: int) -> bool:
        return dst in self._out

    def can_send(self, dst: int, arrays: list[Any]) -> bool:
        return dst in self._out and all(isinstance(a, np.ndarray) and not a.dtype.hasobject for a in arrays)

    def send(self, dst: int, tag: Any, arrays: list[np.ndarray]) -> None:
        tag_bytes = json.dumps(_tag_json(tag)).encode()
        pieces: list[Any] = [_HEAD.pack(_MAGIC, len(tag_bytes), len(arrays)), tag_bytes]
        for a in arrays:
            a = a if a.flags.c_contiguous else a.copy(order="C")     # keeps 0-d arrays 0-d
            name = a.dtype.str.encode("ascii")
            pieces.append(bytes([len(name)]) + name + bytes([a.ndim]) + struct.pack(f"<{a.ndim}Q", *a.shape)
                          + struct.pack("<Q", a.nbytes))
            if a.nbytes:
                pieces.append(memoryview(a.reshape(-1).view(np.uint8)))
        total = sum(len(p) for p in pieces)
        if dst in self._gone:
            raise ConnectionResetError(f"the link to {dst} was closed by the peer")
        with self._locks[dst]:
            sock = self._out[dst]
            if total <= 1 << 20:                          # one write: one packet for a small round
                sock.sendall(b"".join(pieces), _NOSIGNAL)
            else:
                for piece in pieces:
                    sock.sendall(piece, _NOSIGNAL)

    def close(self) -> None:
        self._closed = True
        for sock in [self._server, *self._out.values()]:
            try:
                if sock is not self._server:
                    sock.shutdown(socket.SHUT_RDWR)   # a reader's buffered file keeps the socket open otherwise
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
