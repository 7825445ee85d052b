"""Direct TCP links between party actors: frames carry arrays exactly (dtypes, shapes, empty
and 0-d arrays, large ones), a connection without the session's secret feeds nothing into a
party, and a RaySession over links gives the same results with a round far cheaper than a
Ray call (reported, not asserted)."""

from __future__ import annotations

import socket
import threading
import time

import numpy as np

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


def _direct_pair(secret=b"a" * 32):
    receiver = SocketLinks(1, secret, direct=True)
    sender = SocketLinks(0, secret, direct=True)          # sends never block: a sender thread takes the rest
    sender.connect(1, "127.0.0.1", receiver.port)
    return sender, receiver


def test_direct_mode_reads_in_the_waiting_thread_and_keeps_frames_ahead_of_their_turn():
    sender, receiver = _direct_pair()
    big = np.random.default_rng(2).integers(0, 2**63, 600_000, dtype=np.uint64)   # larger than the buffer
    sender.send(1, 1, [np.arange(5, dtype=np.uint64)])
    sender.send(1, ("p2p", 1), [big, np.array([True, False])])
    sender.send(1, 2, [np.zeros((2, 0), np.int64), np.array(-1.5)])
    # asked for in another order than sent: earlier frames wait in the inbox
    out = receiver.take(0, 2, 10)
    assert out[0].shape == (2, 0) and out[1].shape == () and out[1] == -1.5
    out = receiver.take(0, ("p2p", 1), 10)
    np.testing.assert_array_equal(out[0], big)
    np.testing.assert_array_equal(out[1], [True, False])
    np.testing.assert_array_equal(receiver.take(0, 1, 10)[0], np.arange(5))
    # a message that came another way (a Ray call) wakes the waiting thread
    threading.Timer(0.2, receiver.put, args=(0, 9, [np.ones(2)])).start()
    np.testing.assert_array_equal(receiver.take(0, 9, 10)[0], np.ones(2))
    start = time.monotonic()
    assert receiver.take(0, 3, 0.3) is None and time.monotonic() - start >= 0.29   # nothing came: times out
    sender.close()
    assert receiver.take(0, 4, 0.3) is None                     # a closed link: the wait times out
    receiver.close()
    assert receiver.take(0, 5, 10) is None                      # closed: returns at once


def test_direct_mode_refuses_non_numeric_arrays_and_bad_frames():
    sender, receiver = _direct_pair()
    raw = socket.create_connection(("127.0.0.1", receiver.port))
    raw.sendall(b"a" * 32 + (2).to_bytes(4, "little"))
    meta = b'[1,[["|O",[1]]]]'
    raw.sendall(b"SCD2" + len(meta).to_bytes(4, "little") + (8).to_bytes(8, "little") + meta + bytes(8))
    assert receiver.take(2, 1, 0.5) is None                    # an object array is refused, the link dropped
    meta = b'[1,[["<u8",[3]]]]'                                # a body that does not match the arrays
    sender.send(1, 0, [np.ones(1)])
    assert receiver.take(0, 0, 5) is not None
    raw2 = socket.create_connection(("127.0.0.1", receiver.port))
    raw2.sendall(b"a" * 32 + (3).to_bytes(4, "little"))
    raw2.sendall(b"SCD2" + len(meta).to_bytes(4, "little") + (8).to_bytes(8, "little") + meta + bytes(8))
    assert receiver.take(3, 1, 0.5) is None
    for s in (raw, raw2, sender, receiver):
        s.close()


def test_driver_ops_travel_in_batches(ray_runtime):
    """Pipelined ops are sent in frames of several ops, and the result equals the plaintext
    one (a failure inside a batch: test_ray_session's pipelined failures)."""
    from secured.cluster import RaySession
    from secured.cluster.session import OPS_PER_FRAME

    rng = np.random.default_rng(3)
    a, b = rng.normal(0, 2, (6, 4)), rng.normal(0, 2, (6, 4))
    with RaySession(3) as s:
        sent = []
        flush = s._flush
        s._flush = lambda: (sent.append(len(s._queued[0])), flush())
        x, y = s.share(a), s.share(b)
        acc = x
        for _ in range(3 * OPS_PER_FRAME):
            acc = acc + y - x
        np.testing.assert_allclose(acc.reveal(), a + 3 * OPS_PER_FRAME * (b - a), atol=1e-3)
        assert max(sent) == OPS_PER_FRAME and len(sent) < 3 * (6 * OPS_PER_FRAME) / 2


def test_parties_exchanging_large_arrays_do_not_wait_on_each_other(ray_runtime):
    """A product of 600,000-element tensors: in its opening round every party sends each peer
    2 x 4.8 MB before it reads anything (far more than a socket buffers). The rest of each
    frame goes to a sender thread, so no party blocks in a send while its peers do the same."""
    from secured.cluster import RaySession

    rng = np.random.default_rng(4)
    a, b = rng.normal(0, 3, (1000, 600)), rng.normal(0, 3, (1000, 600))
    with RaySession(3, timeout=60) as s:
        got = (s.share(a) * s.share(b)).reveal()
    ae, be_ = np.round(a * 2**16) / 2**16, np.round(b * 2**16) / 2**16
    np.testing.assert_allclose(got, ae * be_, atol=(np.abs(ae) + np.abs(be_) + 1).max() * 2.0**-16 + 4 * 2.0**-16)
