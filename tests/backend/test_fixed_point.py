"""Fixed-point coding: round trip within 2^-(f+1), two's complement, clear overflow errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import secured
from secured.backend import get_backend
from secured.exceptions import FixedPointOverflowError, RingValueError

from ..conftest import ALL_BACKENDS

MOD = 1 << 64


@st.composite
def values_and_bits(draw):
    f = draw(st.integers(0, 40))
    bound = math.ldexp(1.0, 63 - f)
    xs = draw(st.lists(st.floats(-bound, bound, exclude_min=True, exclude_max=True,
                                 allow_nan=False), min_size=1, max_size=30))
    return np.array(xs), f


@pytest.mark.parametrize("name", ALL_BACKENDS)
@given(data=values_and_bits())
def test_round_trip_error_and_twos_complement(name, data):
    x, f = data
    be = get_backend(name=name)
    try:
        enc = be.to_numpy(be.encode(x, f))
    except FixedPointOverflowError:
        # Only values that round up onto 2^63 / 2^f itself may be refused.
        assert np.any(np.abs(np.rint(x * 2.0**f)) >= 2.0**63)
        return
    # Independent reference: Python's round-half-even on the exact product, as two's complement.
    expected = [int(round(float(v) * 2**f)) % MOD for v in x]
    assert [int(v) for v in enc] == expected
    back = be.to_numpy(be.decode(enc, f))
    assert np.all(np.abs(back - x) <= 2.0 ** -(f + 1))


@pytest.mark.parametrize("name", ALL_BACKENDS)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, 2.0**47, -(2.0**47), 1e300])
def test_out_of_range_raises_without_echoing_values(name, bad):
    be = get_backend(name=name)
    x = np.array([0.5, bad, 1.25])
    with pytest.raises(FixedPointOverflowError) as info:
        be.encode(x, 16)
    message = str(info.value)
    assert "1 of 3 values" in message and "2^47" in message
    if np.isfinite(bad):
        assert str(bad) not in message and str(int(bad)) not in message


def test_default_fractional_bits_come_from_config():
    be = get_backend(name="numpy")
    assert int(be.encode([1.0])[0]) == 1 << 16
    with secured.config_context(fractional_bits=20):
        assert int(be.encode([1.0])[0]) == 1 << 20
        assert be.decode(be.encode([3.5]))[0] == 3.5
    with pytest.raises(RingValueError, match="fractional_bits"):
        be.encode([1.0], 63)


def test_largest_representable_values():
    be = get_backend(name="cython")
    f = 16
    top = float(np.nextafter(math.ldexp(1.0, 63 - f), 0.0))  # largest float below the bound
    enc = be.encode([top, -top], f)
    assert [int(v) for v in enc] == [int(top * 2**f), MOD - int(top * 2**f)]
    assert be.decode(enc, f).tolist() == [top, -top]


def test_backends_encode_identically():
    rng = np.random.default_rng(3)
    x = rng.normal(scale=1e6, size=10_000)
    x[::7] = np.round(x[::7] * 2**16) / 2**16 + 2.0**-17  # exact ties: round half to even
    encs = [get_backend(name=n).to_numpy(get_backend(name=n).encode(x)) for n in ALL_BACKENDS]
    for other in encs[1:]:
        np.testing.assert_array_equal(encs[0], other)
