"""Arithmetic protocols on secret shares, 2, 3 and 5 parties (in-process communicator):
revealed results against plaintext numpy, bit-exact for ring ops and within the documented
fixed-point error otherwise."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from secured.exceptions import ConfigurationError, SecuredError
from secured.mpc import Session, SharedTensor, share

F = 16
ULP = 2.0**-F


fewer = settings(max_examples=25, deadline=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def reals(shape, bound=100.0):
    return hnp.arrays(np.float64, shape, elements=st.floats(-bound, bound, allow_nan=False))


# Error model: each input is rounded to the nearest ulp (<= ULP/2), and a truncation after a
# product lands within 2 ulps of the exact quotient (floor, plus the carry between shares).
TRUNC = 2 * ULP


@fewer
@given(x=reals((3, 4)), y=reals((3, 4)), c=st.floats(-50, 50), k=st.integers(-1000, 1000))
def test_linear_ops_are_exact_on_the_ring(session, x, y, c, k):
    X, Y = session.share(x), session.share(y)
    xe = np.round(x * 2**F) / 2**F  # what the encoding holds (round half even = np.round)
    ye = np.round(y * 2**F) / 2**F
    ce = np.round(c * 2**F) / 2**F
    np.testing.assert_array_equal((X + Y).reveal(), xe + ye)
    np.testing.assert_array_equal((X - Y).reveal(), xe - ye)
    np.testing.assert_array_equal((-X).reveal(), -xe)
    np.testing.assert_array_equal((X + c).reveal(), xe + ce)
    np.testing.assert_array_equal((c - X).reveal(), ce - xe)
    np.testing.assert_array_equal((X * k).reveal(), xe * k)
    np.testing.assert_array_equal(X.sum(axis=0).reveal(), xe.sum(axis=0))
    np.testing.assert_array_equal(X.T.reveal(), xe.T)
    np.testing.assert_array_equal(X[1:, ::2].reveal(), xe[1:, ::2])


# Products stay below 2^7 so the probabilistic truncation's rare wrap (probability about
# |x y| 2^32 / 2^63 per element, see _protocols.truncate) cannot make the suite flaky.
@fewer
@given(x=reals((5,), 10.0), y=reals((5,), 10.0))
def test_mul_and_square_within_two_ulps(session, x, y):
    X, Y = session.share(x), session.share(y)
    bound = (np.abs(x) + np.abs(y) + 1) * ULP / 2 + TRUNC
    assert np.all(np.abs((X * Y).reveal() - x * y) <= bound)
    sq_bound = (2 * np.abs(x) + 1) * ULP / 2 + TRUNC
    assert np.all(np.abs(X.square().reveal() - x * x) <= sq_bound)
    assert np.all(np.abs((X * X).reveal() - x * x) <= sq_bound)
    assert np.all(np.abs((X * 0.5).reveal() - x * 0.5) <= ULP / 4 + TRUNC)


@fewer
@given(data=st.data())
def test_matmul_within_error(session, data):
    m, k, n = (data.draw(st.integers(1, 6)) for _ in range(3))
    a = data.draw(reals((m, k), 10.0))
    b = data.draw(reals((k, n), 10.0))
    A, B = session.share(a), session.share(b)
    bound = k * (np.abs(a).max() + np.abs(b).max() + 1) * ULP / 2 + TRUNC
    assert np.abs((A @ B).reveal() - a @ b).max() <= bound
    assert np.abs((A @ b).reveal() - a @ b).max() <= bound
    assert np.abs((b.T @ A.T).reveal() - b.T @ a.T).max() <= bound


def test_batched_matmul_and_mean(session):
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(3, 4, 5)), rng.normal(size=(3, 5, 2))
    A, B = session.share(a), session.share(b)
    assert np.abs((A @ B).reveal() - a @ b).max() < 1e-3
    assert np.abs(A.mean(axis=1).reveal() - a.mean(axis=1)).max() < 1e-3
    assert np.abs((A / 4).reveal() - a / 4).max() < 1e-4


def test_two_party_matmul_sends_exactly_the_masked_operands():
    """Acceptance: (m x k) @ (k x n) sends (m*k + k*n) * 8 bytes per party in one round."""
    m, k, n = 7, 11, 5
    with Session(n_parties=2) as s:
        A, B = s.share(np.ones((m, k))), s.share(np.ones((k, n)))
        s.reset_stats()
        (A @ B).reveal()
        for party in s.stats()["parties"]:
            assert party["by_op"]["matmul"] == ((m * k + k * n) * 8, 1)
        # The dealer sends one correction (party 0's share of c) and nothing else.
        assert s.stats()["dealer"] == {"bytes_sent": m * n * 8, "requests": 1}


@pytest.mark.parametrize("n_parties", [3, 5])
def test_multiparty_costs(n_parties):
    with Session(n_parties=n_parties) as s:
        X, Y = s.share(np.ones(10)), s.share(np.ones(10))
        s.reset_stats()
        X * Y
        for party in s.stats()["parties"]:
            # mul: open x-a and y-b to n-1 peers; dealer truncation: open x-r to n-1 peers.
            assert party["by_op"]["mul"] == ((2 * 10 + 10) * 8 * (n_parties - 1), 2)


def test_secrets_do_not_leak_through_python():
    with Session(n_parties=2) as s:
        x = s.share(np.array([3.25, -1.0]))
        assert "3.25" not in repr(x) and repr(x).startswith("SharedTensor(shape=(2,)")
        with pytest.raises(SecuredError, match="secret"):
            bool(x)
        with pytest.raises(SecuredError, match="reveal"):
            np.asarray(x)
        with pytest.raises(SecuredError):
            list(x)
        with Session(n_parties=2) as other:
            y = other.share(np.ones(2))
            with pytest.raises(SecuredError, match="different sessions"):
                x + y


def test_share_function_and_validation():
    x = share(np.array([1.0, 2.0]), n_parties=3)
    assert isinstance(x, SharedTensor) and x.n_parties == 3
    np.testing.assert_array_equal((x + x).reveal(), [2.0, 4.0])
    with pytest.raises(ConfigurationError, match="n_parties"):
        Session(n_parties=1)
    with pytest.raises(ConfigurationError, match="timeout"):
        Session(n_parties=2, timeout=0)


def test_party_owned_inputs(tmp_path, session):
    """Each party loads its own rows (file or callable) and shares them; only the owner sends."""
    rng = np.random.default_rng(4)
    blocks = [rng.normal(size=(3 + r, 4)) for r in range(session.n_parties)]
    np.save(tmp_path / "block0.npy", blocks[0])
    for r in range(session.n_parties):
        source = str(tmp_path / "block0.npy") if r == 0 else (lambda b=blocks[r]: b)
        assert session.load(r, f"rows{r}", source) == blocks[r].shape
    session.reset_stats()
    parts = [session.input_from(r, f"rows{r}") for r in range(session.n_parties)]
    stats = session.stats()["parties"]
    assert stats[0]["by_op"]["input_from"][0] == blocks[0].size * 8 * (session.n_parties - 1)
    joined = session.concat(parts, axis=0)
    np.testing.assert_array_equal(joined.reveal(), encoded_rows(np.concatenate(blocks)))
    with pytest.raises(ConfigurationError, match="owner"):
        session.input_from(session.n_parties, "rows0")


def encoded_rows(x):
    return np.round(x * 2**F) / 2**F


@pytest.mark.parametrize("n_parties", [2, 3])
def test_a_small_public_factor_keeps_its_significant_bits(n_parties):
    """0.1 / 64 at f = 16 is 102.4 units: rounded, the product would be 0.4% off. The factor is
    encoded with extra fractional bits and the product truncated by as many (same rounds):
    within a few units of 2^-16 of x * c, for factors from 0.49 down to 2^-20."""
    rng = np.random.default_rng(11)
    x = rng.normal(0, 300, 400)
    with Session(n_parties) as s:
        X = s.share(x)
        s.reset_stats()
        got = {c: (X * c).reveal() for c in (0.1 / 64, 0.49, -3e-4, 2.0**-20, 1e-9)}
        rounds = s.stats()["parties"][0]["rounds"]
    xe = np.round(x * 2**F) / 2**F
    for c, value in got.items():
        # the encoded factor is off by at most 2^-(F + extra + 1) relative to |c| 2^extra < 1
        assert np.abs(value - xe * c).max() <= np.abs(xe).max() * abs(c) * 2.0**-F + 3 * ULP, c
    assert rounds == (0 if n_parties == 2 else 5)         # one truncation round each, as before


def test_a_small_factor_is_checked_at_the_size_of_its_wider_product():
    from secured.exceptions import FixedPointOverflowError
    from secured.mpc.tensor import _extra_bits

    with Session(2) as s:
        x = s.share(np.array([3e4]))
        y = x * 0.001                                  # 30 in real units; extra bits while 30 * 2^extra < 2^10
        assert _extra_bits(0.001, F, 3e4) == 5 and _extra_bits(0.001, F) == 9
        assert y.bound == pytest.approx(30.0, rel=1e-3)     # |x| times the encoded factor
        encoded = round(0.001 * 2**21) / 2**21
        assert y.reveal()[0] == pytest.approx(3e4 * encoded, abs=3 * ULP)
        assert _extra_bits(0.001, F, 2e6) == 0         # 2,000 past 2^10: the factor at f bits only
        with pytest.raises(FixedPointOverflowError, match="wrap"):
            s.share(np.array([1e10])) * 0.3            # 3e9: past 2^31 with or without extra bits
