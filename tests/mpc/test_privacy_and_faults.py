"""What parties see, and what happens when one of them stops answering."""

from __future__ import annotations

import time

import numpy as np
import pytest
from scipy.stats import chi2_contingency

from secured.backend import get_backend
from secured.exceptions import PartyTimeoutError, SecuredError
from secured.mpc import Session


def _products(s, x_value: float, size: int) -> None:
    x = s.share(np.full(size, x_value))
    y = s.share(np.full(size, x_value))
    w = s.share(np.full((size // 64, 8), x_value))
    x * y
    x.reshape(64, size // 64) @ w


def _masked(s, x_value: float, size: int) -> None:
    """The masked comparison and the masked spline (the index byte and x^ they open)."""
    s.costs.comparison, s.costs.sigmoid = "masked", "spline"
    x = s.share(np.full(size, x_value))
    x < 0
    x.sigmoid()


def _sent_bytes(x_value: float, n_parties: int = 2, size: int = 4096, ops=_products) -> dict[int, np.ndarray]:
    """Every byte each party sends while computing ``ops`` (x * y and x @ w) on constant inputs."""
    sent: dict[int, list[np.ndarray]] = {r: [] for r in range(n_parties)}

    def observer(src, dst, arrays):
        # A party sends the same opening to each peer: count each payload once, or the
        # duplicates would break the independence the chi-square test assumes.
        if dst == (src + 1) % n_parties:
            sent[src].extend(np.asarray(a).view(np.uint8).ravel() for a in arrays)

    with Session(n_parties=n_parties, observer=observer) as s:
        ops(s, x_value, size)
    return sent


@pytest.mark.parametrize("n_parties, ops", [(2, _products), (3, _products), (2, _masked), (3, _masked)],
                         ids=["products-2", "products-3", "masked-2", "masked-3"])
def test_messages_do_not_depend_on_inputs(n_parties, ops):
    """Byte histograms of every party's messages: the same for two inputs, and uniform (a
    constant input that showed through -- an unmasked x^, an index opened without the dealer's
    mask -- skews them)."""
    zeros, ones = _sent_bytes(0.0, n_parties, ops=ops), _sent_bytes(1.0 if ops is _products else -3.0, n_parties,
                                                                    ops=ops)
    for messages in (zeros, ones):
        # what a party learns from each opening is the combination of every party's payload
        # (XOR, or the sum mod 2^64): message by message, both must look uniform (the wrong
        # combination of random shares is uniform anyway; an unmasked x^ or piece index is not)
        for k in range(len(messages[0])):
            payloads = [messages[r][k] for r in range(n_parties)]
            if payloads[0].size < 4096:
                continue
            opened = [np.bitwise_xor.reduce(payloads)]
            if payloads[0].size % 8 == 0:
                with np.errstate(over="ignore"):
                    opened.append(np.sum([p.view(np.uint64) for p in payloads], axis=0, dtype=np.uint64).view(np.uint8))
            for value in opened:
                h = np.bincount(value, minlength=256)
                assert ((h - h.sum() / 256) ** 2 / (h.sum() / 256)).sum() < 255 + 10 * np.sqrt(2 * 255), k
    for rank in range(n_parties):
        a = np.bincount(np.concatenate(zeros[rank]), minlength=256)
        b = np.bincount(np.concatenate(ones[rank]), minlength=256)
        assert a.sum() == b.sum()  # same sizes whatever the input
        _, p_value, _, _ = chi2_contingency(np.stack([a, b]))
        assert p_value > 1e-6, f"party {rank}'s byte distribution depends on the input"
        # And each is uniform: a constant input shows through as a skewed histogram.
        expected = a.sum() / 256
        chi2_uniform = ((a - expected) ** 2 / expected).sum()
        assert chi2_uniform < 255 + 8 * np.sqrt(2 * 255)


def test_no_party_receives_plaintext():
    be = get_backend()
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(20, 30)), rng.normal(size=(30, 10))
    secrets = [be.encode(v) for v in (x, y, x[:, :10] * 2)]
    received = []
    with Session(n_parties=3, observer=lambda s, d, arrays: received.extend(arrays)) as s:
        X, Y = s.share(x), s.share(y)
        product = be.encode(x @ y, 32)  # the untruncated product, before any masking
        secrets.append(product)
        X @ Y
        X * X
        X[:, :10] * 2.0
    assert received, "the protocol sent nothing?"
    for msg in received:
        msg = np.asarray(msg)
        for secret in secrets:
            if msg.shape == secret.shape:
                # Masked words equal the plaintext word with probability 2^-64 each.
                assert not np.any(msg == secret)


@pytest.mark.parametrize("pipeline", [False, True])
def test_stalled_party_raises_party_timeout_and_a_new_session_works(pipeline):
    """Without pipelining the product itself raises; pipelined, the product is sent and the
    timeout comes with the next op that waits (the reveal), as promptly."""
    timeout = 1.0
    s = Session(n_parties=3, timeout=timeout, pipeline=pipeline)
    x = s.share(np.ones(4))
    s._queues[2].put(None)  # party 2's worker stops: it will never answer again
    s._threads[2].join()
    start = time.monotonic()
    with pytest.raises(PartyTimeoutError) as info:
        (x * x).reveal()
    if pipeline:
        assert any("pipelined op 'square'" in note for note in info.value.__notes__)
    assert time.monotonic() - start < timeout + 5
    assert info.value.party == "party 2" and isinstance(info.value, TimeoutError)
    with pytest.raises(SecuredError, match="create a new one"):
        x + x
    s.close()
    with Session(n_parties=3, timeout=timeout) as fresh:
        y = fresh.share(np.array([2.0]))
        assert abs((y * y).reveal()[0] - 4.0) <= 2 * 2.0**-16


def test_root_cause_follows_the_chain_of_waiting_parties():
    """Party 2 died after sending to party 0 only: party 1 waits on 2, party 0 then waits on
    party 1. The error raised names party 2, not the neighbour party 0 timed out on."""
    from secured.mpc.session import BaseSession

    def waited(on):
        return PartyTimeoutError(f"{on} sent nothing", party=on)

    died = PartyTimeoutError("party 2 died", party="party 2")
    died.from_driver = True
    outcomes = [("error", waited("party 1")), ("error", waited("party 2")), ("error", died)]
    assert BaseSession._root_cause(outcomes).party == "party 2"
    dealer = [("error", waited("dealer")), ("error", waited("party 0"))]
    assert BaseSession._root_cause(dealer).party == "dealer"
    boom = ValueError("bad input")
    assert BaseSession._root_cause([("ok", 1), ("error", boom), ("error", died)]) is boom
