"""Direct TCP links between party actors: frames carry arrays exactly (dtypes, shapes, empty
and 0-d arrays, large ones), a connection without the session's secret feeds nothing into a
party, and a RaySession over links gives the same results with a round far cheaper than a
Ray call (reported, not asserted)."""

from __future__ import annotations

import socket
import threading
import time

import numpy as np
import pytest

from secured.cluster._sockets import SocketLinks


def _pair(secret_a=b"a" * 32, secret_b=b"a" * 32):
    got, event = [], threading.Event()

    def deliver(src, tag, arrays):
        got.append((src, tag, arrays))
        event.set()

    receiver = SocketLinks(1, secret_a, deliver)
    sender = SocketLinks(0, secret_b, lambda *a: None)
    sender.connect(1, "127.0.0.1", receiver.port)
    return sender, receiver, got, event


def test_frames_carry_arrays_exactly():
    sender, receiver, got, event = _pair()
    arrays = [np.arange(10, dtype=np.uint64) * np.uint64(2**60), np.zeros((0, 3), np.float32), np.array(3.5),
              np.array([[True, False]]), np.random.default_rng(0).integers(0, 255, 3_000_000).astype(np.uint8)]
    sender.send(1, ("p2p", 7), arrays)
    assert event.wait(10)
    src, tag, out = got[0]
    assert src == 0 and tag == ("p2p", 7)
    for a, b in zip(arrays, out):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    sender.close()
    receiver.close()


def test_a_connection_without_the_secret_feeds_nothing():
    sender, receiver, got, event = _pair(secret_b=b"b" * 32)
    try:
        sender.send(1, 1, [np.ones(3)])
    except OSError:
        pass                                    # the receiver may already have closed the connection
    assert not event.wait(1.0) and got == []
    raw = socket.create_connection(("127.0.0.1", receiver.port))       # garbage after a good hello
    raw.sendall(b"a" * 32 + (0).to_bytes(4, "little") + b"XXXX" + b"\xff" * 64)
    time.sleep(0.5)
    assert got == []
    raw.close()
    sender.close()
    receiver.close()


def test_ray_session_over_links(ray_runtime):
    from secured.cluster import RaySession

    x = np.random.default_rng(1).normal(0, 3, 500)
    timings = {}
    for links in (True, False):
        with RaySession(2, direct_links=links) as s:
            assert (getattr(s, "link_addresses", None) is not None) == links
            out = s.share(x).sigmoid().reveal()
            np.testing.assert_allclose(out, 1 / (1 + np.exp(-np.round(x * 2**16) / 2**16)), atol=5e-4)
            timings[links] = min(s.party_call("rounds", [(200,)] * 2)) / 200
    print(f"round on Ray: {timings[True] * 1e3:.3f} ms over links, {timings[False] * 1e3:.3f} ms over Ray calls")
