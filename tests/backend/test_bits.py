"""Bit helpers for binary shares, against references written with Python ints."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from secured.backend import get_backend
from secured.exceptions import RingValueError

from ..conftest import ALL_BACKENDS

uint64_arrays = hnp.arrays(np.uint64, st.integers(0, 300), elements=st.integers(0, 2**64 - 1))


@pytest.mark.parametrize("name", ALL_BACKENDS)
@given(x=uint64_arrays)
def test_bit_decompose_matches_python_bits(name, x):
    be = get_backend(name=name)
    planes = be.to_numpy(be.bit_decompose(x))
    words = -(-x.size // 64)
    assert planes.shape == (64, words)
    values = [int(v) for v in x]
    for i in (0, 1, 31, 62, 63):
        for g in range(words):
            expected = sum(((values[64 * g + t] >> i) & 1) << t
                           for t in range(64) if 64 * g + t < len(values))
            assert int(planes[i, g]) == expected
    np.testing.assert_array_equal(be.to_numpy(be.bit_compose(planes, x.size)), x)


@pytest.mark.parametrize("name", ALL_BACKENDS)
def test_bit_planes_compute_a_sliced_adder(name):
    """Planes are usable for bit-sliced logic: a ripple-carry adder on planes equals + mod 2^64."""
    be = get_backend(name=name)
    rng = np.random.default_rng(11)
    a = rng.integers(0, 2**64, 1000, dtype=np.uint64, endpoint=False)
    b = rng.integers(0, 2**64, 1000, dtype=np.uint64, endpoint=False)
    pa, pb = be.bit_decompose(a), be.bit_decompose(b)
    carry = be.zeros(pa.shape[1])
    planes = []
    for i in range(64):
        s = be.xor(be.xor(pa[i], pb[i]), carry)
        carry = be.xor(be.and_(pa[i], pb[i]), be.and_(carry, be.xor(pa[i], pb[i])))
        planes.append(s)
    total = be.bit_compose(be.xp.stack(planes), a.size)
    np.testing.assert_array_equal(be.to_numpy(total), a + b)


@pytest.mark.parametrize("name", ALL_BACKENDS)
@given(bits=hnp.arrays(np.bool_, st.tuples(st.integers(1, 3), st.integers(1, 200))))
def test_pack_unpack_round_trip(name, bits):
    be = get_backend(name=name)
    words = be.to_numpy(be.pack_bits(bits))
    assert words.shape == (bits.shape[0], -(-bits.shape[1] // 64))
    for r in range(bits.shape[0]):
        expected = sum(1 << j for j in range(bits.shape[1]) if bits[r, j])
        got = sum(int(w) << (64 * i) for i, w in enumerate(words[r]))
        assert got == expected
    np.testing.assert_array_equal(be.to_numpy(be.unpack_bits(words, bits.shape[1])), bits)


@pytest.mark.parametrize("name", ALL_BACKENDS)
def test_xor_and_not(name):
    be = get_backend(name=name)
    a = np.array([0, 2**64 - 1, 0xF0F0], dtype=np.uint64)
    b = np.array([2**63, 2**64 - 1, 0x0FF0], dtype=np.uint64)
    assert be.to_numpy(be.xor(a, b)).tolist() == [2**63, 0, 0xFF00]
    assert be.to_numpy(be.and_(a, b)).tolist() == [0, 2**64 - 1, 0x00F0]
    assert be.to_numpy(be.not_(a)).tolist() == [2**64 - 1, 0, 2**64 - 1 - 0xF0F0]


def test_bad_bit_inputs():
    be = get_backend(name="numpy")
    with pytest.raises(RingValueError, match="planes"):
        be.bit_compose(np.zeros((65, 1), np.uint64), 3)
    with pytest.raises(RingValueError, match="fewer than"):
        be.unpack_bits(np.zeros(1, np.uint64), 65)
    with pytest.raises(RingValueError, match="boolean"):
        be.pack_bits(np.zeros(3))
