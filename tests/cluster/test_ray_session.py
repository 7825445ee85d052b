"""The Ray transport: parties and dealer as actors, what crosses the wire, and failures."""

from __future__ import annotations

import threading
import socket
import time

import numpy as np
import pytest

from secured.backend import get_backend
from secured.exceptions import ConfigurationError, PartyTimeoutError, SecuredError


@pytest.fixture
def ray_session_cls(ray_runtime):
    from secured.cluster import RaySession

    return RaySession


def test_matmul_bytes_and_rounds_match_in_process(ray_session_cls):
    m, k, n = 6, 9, 4
    with ray_session_cls(n_parties=2, timeout=30) as s:
        A, B = s.share(np.ones((m, k))), s.share(np.ones((k, n)))
        s.reset_stats()
        C = A @ B
        np.testing.assert_allclose(C.reveal(), np.full((m, n), float(k)), atol=1e-3)
        for party in s.stats()["parties"]:
            assert party["by_op"]["matmul"] == ((m * k + k * n) * 8, 1)
        assert s.stats()["dealer"]["bytes_sent"] == m * n * 8


def test_party_actors_never_receive_plaintext(ray_session_cls):
    be = get_backend()
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(12, 7)), rng.normal(size=(7, 5))
    with ray_session_cls(n_parties=3, timeout=30, record_messages=True) as s:
        X, Y = s.share(x), s.share(y)
        (X @ Y).relu()
        X.sigmoid()
        secrets = [be.encode(x), be.encode(y), be.encode(x @ y, 32), be.encode(x @ y)]
        for rank in range(3):
            received = s.received_messages(rank)
            assert received
            for msg in received:
                for secret in secrets:
                    if np.shape(msg) == secret.shape:
                        assert not np.any(np.asarray(msg) == secret)


def test_killing_a_party_mid_protocol_raises_party_timeout(ray_session_cls):
    import ray

    timeout = 3.0
    s = ray_session_cls(n_parties=3, timeout=timeout)
    x = s.share(np.linspace(-3, 3, 20_000))
    outcome = {}

    def compute():
        try:
            for _ in range(50):  # long enough to be interrupted
                x.sigmoid()
            s.sync()             # the sigmoids are pipelined: wait for them (and their failure)
            outcome["result"] = "finished"
        except BaseException as exc:  # recorded for the main thread
            outcome["error"] = exc
            outcome["at"] = time.monotonic()

    worker = threading.Thread(target=compute)
    worker.start()
    time.sleep(1.0)
    ray.kill(s.party_actors[2])
    killed_at = time.monotonic()
    worker.join(timeout=timeout + 30)
    assert "error" in outcome, outcome
    assert isinstance(outcome["error"], PartyTimeoutError)
    assert outcome["error"].party == "party 2"
    assert outcome["at"] - killed_at <= timeout + 5
    with pytest.raises(SecuredError, match="create a new one"):
        x + x
    s.close()
    with ray_session_cls(n_parties=3, timeout=timeout) as fresh:
        y = fresh.share(np.array([-1.0, 2.0]))
        np.testing.assert_array_equal(y.relu().reveal(), [0.0, 2.0])


def test_dead_dealer_is_named(ray_session_cls):
    import ray

    timeout = 2.0
    with ray_session_cls(n_parties=2, timeout=timeout) as s:
        x = s.share(np.ones(3))
        ray.kill(s.dealer_actor)
        # ray.kill returns before the process is gone (and Ray reports it dead before its sockets
        # close): wait until the dealer's link endpoint refuses connections.
        host, port = s.link_addresses[-1]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection((host, port), timeout=1).close()
            except OSError:
                break
            time.sleep(0.1)
        start = time.monotonic()
        with pytest.raises(PartyTimeoutError) as info:
            (x * x).reveal()          # the product is pipelined: its failure comes with the reveal
        assert time.monotonic() - start <= timeout + 5
        assert info.value.party in {"dealer", "party 0"}


def test_bad_session_parameters(ray_session_cls):
    with pytest.raises(ConfigurationError, match="n_parties"):
        ray_session_cls(n_parties=1)
    with pytest.raises(ConfigurationError, match="timeout"):
        ray_session_cls(n_parties=2, timeout=-1)


def test_a_dead_party_is_named_at_once_over_the_driver_link(ray_runtime):
    """Once a party's link is closed, the next op reports that party without waiting for the
    session's timeout."""
    import ray

    from secured.cluster import RaySession

    timeout = 30.0
    with RaySession(2, timeout=timeout) as s:
        x = s.share(np.ones(4))
        host, port = s.link_addresses[1]
        ray.kill(s.party_actors[1])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:                # wait until the process and its sockets are gone
            try:
                socket.create_connection((host, port), timeout=1).close()
            except OSError:
                break
            time.sleep(0.1)
        time.sleep(0.5)
        start = time.monotonic()
        with pytest.raises(PartyTimeoutError, match="link to party 1 is broken") as info:
            (x + x).reveal()
        assert time.monotonic() - start < timeout / 3 and info.value.party == "party 1"
