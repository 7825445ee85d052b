"""Nonlinear functions on secret shares against float64 on the encoded inputs, within the
error bounds documented in the README (measured by benchmarks/accuracy_mpc.py), for 2, 3
and 5 parties; conv2d against torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from secured.mpc import Session

F = 16
ULP = 2.0**-F


def encoded(x):
    return np.round(np.asarray(x) * 2**F) / 2**F


def floats(lo, hi, size=(1, 40)):
    return hnp.arrays(np.float64, st.integers(*size), elements=st.floats(lo, hi, allow_nan=False))


def positive(lo_exp, hi_exp, size=(1, 40)):
    return hnp.arrays(np.float64, st.integers(*size),
                      elements=st.floats(lo_exp, hi_exp).map(lambda e: float(2.0**e)))


few = settings(max_examples=8, deadline=None,
               suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def assert_close(got, ref, rel, ulps):
    err = np.abs(got - ref)
    bound = rel * np.abs(ref) + ulps * ULP
    assert np.all(err <= bound), f"max excess {np.max(err - bound):.3g}"


@few
@given(x=floats(-4.0, 7.0))
def test_exp_relative(session, x):
    assert_close(session.share(x).exp().reveal(), np.exp(encoded(x)), 6e-3, 4)


@few
@given(x=floats(-1000.0, -4.0))
def test_exp_negative_absolute(session, x):
    assert_close(session.share(x).exp().reveal(), np.exp(encoded(x)), 0.0, 8)


@few
@given(x=positive(-10, 10), negate=st.booleans())
def test_reciprocal(session, x, negate):
    x = -x if negate else x
    assert_close(session.share(x).reciprocal().reveal(), 1 / encoded(x), 2e-4, 4)


@few
@given(x=positive(-10, 14))
def test_rsqrt_sqrt_log(session, x):
    xe = encoded(x)
    X = session.share(x)
    assert_close(X.rsqrt().reveal(), 1 / np.sqrt(xe), 3e-4, 4)
    assert_close(X.sqrt().reveal(), np.sqrt(xe), 3e-4, 8)
    assert_close(X.log().reveal(), np.log(xe), 0.0, 8)


@few
@given(x=floats(-100.0, 100.0))
def test_sigmoid_tanh(session, x):
    X = session.share(x)
    xe = encoded(x)
    assert_close(X.sigmoid().reveal(), 1 / (1 + np.exp(-xe)), 0.0, 32)
    assert_close(X.tanh().reveal(), np.tanh(xe), 0.0, 64)


@few
@given(x=hnp.arrays(np.float64, st.tuples(st.integers(1, 5), st.integers(1, 12)),
                    elements=st.floats(-20, 20, allow_nan=False)))
def test_max_argmax_softmax(session, x):
    X = session.share(x)
    xe = encoded(x)
    np.testing.assert_array_equal(X.max(axis=1).reveal(), xe.max(axis=1))
    np.testing.assert_array_equal(X.argmax(axis=1).reveal(), xe.argmax(axis=1).astype(float))
    np.testing.assert_array_equal(X.max(axis=0).reveal(), xe.max(axis=0))
    z = np.exp(xe - xe.max(axis=1, keepdims=True))
    assert_close(X.softmax(axis=1).reveal(), z / z.sum(axis=1, keepdims=True), 0.0, 32)


def test_division_and_equality(session):
    a = session.share(np.array([1.0, 2.0, 3.0, -7.5]))
    b = session.share(np.array([2.0, 4.0, -8.0, 2.5]))
    assert_close((a / b).reveal(), np.array([0.5, 0.5, -0.375, -3.0]), 2e-4, 4)
    np.testing.assert_array_equal((a == np.array([1.0, 0.0, 3.0, 7.5])).reveal(), [1, 0, 1, 0])
    np.testing.assert_array_equal((a != b).reveal(), [1, 1, 1, 1])


@pytest.mark.parametrize("stride, padding", [(1, 0), (2, 1)])
def test_conv2d_against_torch(session, stride, padding):
    rng = np.random.default_rng(stride)
    x, w = rng.normal(size=(2, 3, 7, 6)), rng.normal(size=(4, 3, 3, 2))
    ref = torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(w), stride=stride, padding=padding).numpy()
    X, W = session.share(x), session.share(w)
    k = 3 * 3 * 2
    bound = k * (np.abs(x).max() + np.abs(w).max()) * ULP + 4 * ULP
    assert np.abs(X.conv2d(W, stride, padding).reveal() - ref).max() <= bound
    assert np.abs(X.conv2d(w, stride, padding).reveal() - ref).max() <= bound


def test_conv2d_bytes_two_parties():
    with Session(n_parties=2) as s:
        X, W = s.share(np.ones((2, 3, 8, 8))), s.share(np.ones((5, 3, 3, 3)))
        s.reset_stats()
        X.conv2d(W)
        assert s.stats()["parties"][0]["by_op"]["conv2d"] == ((2 * 3 * 8 * 8 + 5 * 3 * 3 * 3) * 8, 1)
