"""Secure aggregation: the sum is exact within fixed point, a dropout after key sharing is
recovered, the server's view reveals no single input, malformed or inconsistent requests are
refused, and FedAvg under secure aggregation equals plain FedAvg."""

from __future__ import annotations

import numpy as np
import pytest

from secured.exceptions import BadInputError, ConfigurationError, IntegrityError
from secured.federation import FedAvg, FedAvgM, Median, SecureAggregation, Update, clip_update
from secured.federation.secagg import PRIME, SecAggClient, SecAggServer, decode, secure_sum, shamir_join, shamir_split
from secured.mpc.secagg import _prg


def test_shamir_any_threshold_subset_reconstructs():
    secret = bytes(range(32))
    shares = shamir_split(secret, 4, list(range(1, 8)))
    assert shamir_join({k: shares[k] for k in (2, 5, 6, 7)}, 32) == secret
    assert shamir_join({k: shares[k] for k in (1, 2, 3)}, 66) != secret.rjust(66, b"\0")
    assert all(0 <= v < PRIME for v in shares.values())


def test_sum_and_dropout_recovery():
    rng = np.random.default_rng(0)
    xs = [rng.uniform(-2, 2, size=5000) for _ in range(10)]
    server = SecAggServer(5000, 6, 2.0, 16)
    total = secure_sum(xs, threshold=6, bound=2.0, drop_after_sharing=[4], server=server)
    expected = sum(x for i, x in enumerate(xs) if i != 4)
    assert np.abs(total - expected).max() <= 9 * 2.0 ** -17 + 1e-12
    # the server rebuilt self-mask seeds of survivors only and the mask key of the dropped client only
    assert server.revealed_b_ == [i for i in range(1, 11) if i != 5] and server.revealed_s_ == [5]
    # bytes: a masked input is 4 bytes per value, like a float32 update
    masked = sum(p.nbytes for kind, _, p in server.seen if kind == "masked")
    assert masked == 9 * 5000 * 4


def test_wire_overhead_is_under_five_percent_of_plain_updates():
    rng = np.random.default_rng(4)
    xs = [rng.uniform(-1, 1, size=200_000) for _ in range(10)]
    server = SecAggServer(200_000, 6, 1.0, 16)
    secure_sum(xs, threshold=6, bound=1.0, server=server)
    plain = 10 * 200_000 * 4                                  # each client uploading float32 values
    assert plain < server.bytes_in < 1.05 * plain
    assert server.bytes_in + server.bytes_out < 1.05 * plain


def test_the_server_view_reveals_no_single_input():
    rng = np.random.default_rng(1)
    xs = [rng.uniform(-1, 1, size=20000) for _ in range(4)]
    server = SecAggServer(20000, 3, 1.0, 16)
    clients = [SecAggClient(i + 1, 20000, 3, 1.0, 16) for i in range(4)]
    roster = server.roster({c.index: c.advertise() for c in clients})
    inbox = server.route({c.index: c.share_keys(roster) for c in clients})
    for c in clients:
        c.receive_shares(inbox[c.index])
    survivors, dropped = server.collect({c.index: c.masked_input(x, server.u2) for c, x in zip(clients, xs)})
    responses = {c.index: c.unmask(survivors, dropped) for c in clients}
    total = server.finish(responses, roster)
    assert np.abs(total - sum(xs)).max() < 1e-3
    # even with every self mask (which the server learns), an input minus its self mask is still
    # hidden by pair masks: uncorrelated with the input and uniform over the ring
    for c, x in zip(clients, xs):
        residual = (server.masked[c.index].astype(np.uint64) - _prg(c._b, 20000)) & np.uint64(0xFFFFFFFF)
        values = decode(residual, 16)
        assert abs(np.corrcoef(values, x)[0, 1]) < 0.05
        counts = np.bincount((residual >> np.uint64(28)).astype(np.int64), minlength=16)
        assert counts.min() > 0.8 * 20000 / 16
    # no message the server received holds a plaintext input
    for kind, _, payload in server.seen:
        if kind == "masked":
            assert all(np.abs(decode(payload, 16) - x).max() > 1 for x in xs)


def test_inconsistent_or_short_requests_are_refused():
    clients = [SecAggClient(i + 1, 10, 3) for i in range(4)]
    server = SecAggServer(10, 3)
    roster = server.roster({c.index: c.advertise() for c in clients})
    inbox = server.route({c.index: c.share_keys(roster) for c in clients})
    for c in clients:
        c.receive_shares(inbox[c.index])
    for c in clients:
        c.masked_input(np.zeros(10), server.u2)
    with pytest.raises(IntegrityError, match="both surviving and dropped"):
        clients[0].unmask([1, 2, 3], [3])
    with pytest.raises(IntegrityError, match="threshold"):
        clients[0].unmask([1, 2], [])
    tampered = dict(inbox[2])
    tampered[1] = tampered[1][:-1] + bytes([tampered[1][-1] ^ 1])
    with pytest.raises(IntegrityError, match="authentication"):
        clients[1].receive_shares(tampered)
    with pytest.raises(BadInputError, match="outside"):
        clients[0].masked_input(np.full(10, 5.0), server.u2)
    with pytest.raises(ConfigurationError, match="overflow"):
        secure_sum([np.zeros(3)] * 3, threshold=2, bound=40000.0, scale_bits=16)


def _updates(rng, current, n=6):
    return [clip_update(Update([c + rng.normal(scale=0.05, size=c.shape) for c in current], int(rng.integers(10, 90)),
                               f"h{i}"), current, 0.5) for i in range(n)]


def test_fedavg_under_secure_aggregation_equals_plain_fedavg():
    rng = np.random.default_rng(2)
    current = [rng.normal(size=(20, 5)), rng.normal(size=5)]
    for strategy_cls in (FedAvg, FedAvgM):
        ups = _updates(rng, current)
        plain = strategy_cls().aggregate(1, ups, current)
        secure = SecureAggregation(strategy_cls(), threshold=4, bound=0.5, max_examples=100).aggregate(1, ups, current)
        for a, b in zip(plain, secure):
            assert np.abs(a - b).max() < 1e-3
    # a client dropping after key sharing: the average of the others
    ups = _updates(rng, current)
    agg = SecureAggregation(FedAvg(), threshold=4, bound=0.5, max_examples=100, drop_after_sharing=["h2"])
    out = agg.aggregate(1, ups, current)
    ref = FedAvg().aggregate(1, [u for u in ups if u.client != "h2"], current)
    assert all(np.abs(a - b).max() < 1e-3 for a, b in zip(out, ref)) and "h2" not in agg.participants_


def test_robust_strategies_are_refused_under_secure_aggregation():
    with pytest.raises(ConfigurationError, match="SMPC"):
        SecureAggregation(Median(), threshold=3, bound=1.0, max_examples=10)
    current = [np.zeros(4)]
    big = [Update([np.full(4, 3.0)], 5, "a"), Update([np.zeros(4)], 5, "b"), Update([np.zeros(4)], 5, "c")]
    with pytest.raises(BadInputError, match="clip"):
        SecureAggregation(FedAvg(), threshold=2, bound=1.0, max_examples=10).aggregate(1, big, current)
