"""Exact Z_2^64 matmul: every backend against Python big-integer arithmetic, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from secured.backend import CHUNK, get_backend
from secured.exceptions import RingValueError

from ..conftest import ALL_BACKENDS

MOD = 1 << 64
SPECIAL = [0, 1, 2, (1 << 63) - 1, 1 << 63, (1 << 63) + 1, MOD - 2, MOD - 1]

uint64s = st.one_of(st.sampled_from(SPECIAL), st.integers(0, MOD - 1))


def bigint_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Reference: exact products with Python ints (object arrays), then reduce mod 2^64."""
    a_obj = np.vectorize(int, otypes=[object])(a) if a.size else a.astype(object)
    b_obj = np.vectorize(int, otypes=[object])(b) if b.size else b.astype(object)
    out = np.matmul(a_obj, b_obj)
    return np.vectorize(lambda v: int(v) % MOD, otypes=[object])(out) if np.size(out) else out


def assert_exact(be, a, b, limbs: bool = False):
    """``be.matmul`` (or, ``limbs=True``, the BLAS limb product it uses for large operands, also
    on thin ones) against Python integers."""
    if limbs:
        (m, k), n = np.shape(a), np.shape(b)[1]
        got = be.to_numpy(be._limb_matmul(be.asarray(a), be.asarray(b), (), m, k, n))
    else:
        got = be.to_numpy(be.matmul(be.asarray(a), be.asarray(b)))
    ref = bigint_matmul(a, b)
    assert got.dtype == np.uint64
    assert got.shape == np.shape(ref)
    assert [int(v) for v in got.ravel()] == [int(v) for v in np.ravel(ref)]


def matrices(shape):
    return hnp.arrays(np.uint64, shape, elements=uint64s)


@st.composite
def matmul_pairs(draw, max_side=6, batch=False):
    m, k, n = (draw(st.integers(1, max_side)) for _ in range(3))
    lead = (draw(st.integers(1, 3)),) if batch else ()
    return draw(matrices(lead + (m, k))), draw(matrices(lead + (k, n)))


@pytest.mark.parametrize("name", ALL_BACKENDS)
@given(pair=matmul_pairs())
def test_matmul_matches_bigint(name, pair):
    assert_exact(get_backend(name=name), *pair)
    assert_exact(get_backend(name=name), *pair, limbs=True)


@pytest.mark.parametrize("name", ALL_BACKENDS)
@given(pair=matmul_pairs(max_side=4, batch=True))
def test_batched_matmul_matches_bigint(name, pair):
    assert_exact(get_backend(name=name), *pair)


@given(pair=matmul_pairs(max_side=5))
def test_backends_agree_bit_for_bit(pair):
    a, b = pair
    results = [get_backend(name=n).to_numpy(get_backend(name=n).matmul(a, b)) for n in ALL_BACKENDS]
    for other in results[1:]:
        np.testing.assert_array_equal(results[0], other)


def _extreme_value() -> int:
    """The uint64 whose three balanced digits are all at their most negative (-2^21, -2^19,
    -2^21): it makes every float64 partial sum of the limb GEMM as large as it can be."""
    return (-(1 << 21) - (1 << 19) * (1 << 22) - (1 << 21) * (1 << 42)) % MOD


@pytest.mark.parametrize("name", ALL_BACKENDS)
@pytest.mark.parametrize("k", [CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 7])
def test_worst_case_magnitudes_stay_exact(name, k):
    """All-extreme operands at and around the chunk length: float64 sums reach 2^53."""
    v = _extreme_value()
    a = np.full((2, k), v, dtype=np.uint64)
    b = np.full((k, 3), v, dtype=np.uint64)
    b[0, 0] = MOD - 1
    assert_exact(get_backend(name=name), a, b)
    assert_exact(get_backend(name=name), a, b, limbs=True)   # thin products take numpy's own matmul


@pytest.mark.parametrize("name", ALL_BACKENDS)
def test_inner_dimension_2_to_16(name):
    rng = np.random.default_rng(16)
    k = 1 << 16
    a = rng.integers(0, MOD, (2, k), dtype=np.uint64, endpoint=False)
    b = rng.integers(0, MOD, (k, 3), dtype=np.uint64, endpoint=False)
    a[0, :8] = np.array(SPECIAL, dtype=np.uint64)
    b[:8, 0] = np.array(SPECIAL, dtype=np.uint64)
    assert_exact(get_backend(name=name), a, b)
    assert_exact(get_backend(name=name), a, b, limbs=True)


@pytest.mark.parametrize("name", ALL_BACKENDS)
@pytest.mark.parametrize(
    "shape_a, shape_b",
    [((1, 1), (1, 1)), ((5,), (5, 3)), ((4, 5), (5,)), ((5,), (5,)), ((2, 3, 4), (4, 2)),
     ((4, 3), (2, 3, 5)), ((2, 1, 3, 4), (5, 4, 6)), ((3, 0), (0, 2)), ((0, 3), (3, 2))],
)
def test_numpy_shape_rules(name, shape_a, shape_b):
    rng = np.random.default_rng(1)
    a = rng.integers(0, MOD, shape_a, dtype=np.uint64, endpoint=False)
    b = rng.integers(0, MOD, shape_b, dtype=np.uint64, endpoint=False)
    be = get_backend(name=name)
    got = be.to_numpy(be.matmul(a, b))
    with np.errstate(over="ignore"):
        expected = np.matmul(a, b)  # numpy's integer matmul wraps mod 2^64 (slow but exact)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("name", ALL_BACKENDS)
def test_matmul_medium_against_numpy_uint64(name):
    rng = np.random.default_rng(5)
    a = rng.integers(0, MOD, (2, 70, 1500), dtype=np.uint64, endpoint=False)
    b = rng.integers(0, MOD, (2, 1500, 33), dtype=np.uint64, endpoint=False)
    be = get_backend(name=name)
    np.testing.assert_array_equal(be.to_numpy(be.matmul(a, b)), np.matmul(a, b))


def test_matmul_rejects_bad_inputs():
    be = get_backend(name="numpy")
    with pytest.raises(RingValueError, match="inner dimensions"):
        be.matmul(np.zeros((2, 3), np.uint64), np.zeros((4, 2), np.uint64))
    with pytest.raises(RingValueError, match="uint64"):
        be.matmul(np.zeros((2, 3), np.int64), np.zeros((3, 2), np.uint64))
    with pytest.raises(RingValueError, match="uint64"):
        be.matmul(np.zeros((2, 3)), np.zeros((3, 2), np.uint64))
    with pytest.raises(RingValueError, match="batch shapes"):
        be.matmul(np.zeros((2, 2, 3), np.uint64), np.zeros((3, 3, 2), np.uint64))
    with pytest.raises(RingValueError, match="at least one dimension"):
        be.matmul(np.uint64(3), np.zeros((3, 2), np.uint64))


@pytest.mark.parametrize("name", ALL_BACKENDS)
@given(a=matrices((7,)), b=matrices((7,)), s=st.integers(0, 63))
def test_elementwise_ring_ops_match_bigint(name, a, b, s):
    be = get_backend(name=name)
    ai, bi = [int(v) for v in a], [int(v) for v in b]

    def check(result, expected):
        assert [int(v) for v in np.ravel(be.to_numpy(result))] == [e % MOD for e in expected]

    check(be.add(a, b), [x + y for x, y in zip(ai, bi)])
    check(be.sub(a, b), [x - y for x, y in zip(ai, bi)])
    check(be.neg(a), [-x for x in ai])
    check(be.mul(a, b), [x * y for x, y in zip(ai, bi)])
    check(be.lshift(a, s), [x << s for x in ai])
    check(be.rshift(a, s), [x >> s for x in ai])
    signed = [x - MOD if x >= 1 << 63 else x for x in ai]
    check(be.arshift(a, s), [x >> s for x in signed])  # Python's >> floors, like sign fill
    check(be.sum(a), [sum(ai)])


def test_python_ints_are_reduced_mod_2_64():
    be = get_backend(name="numpy")
    assert int(be.add(np.array([5], np.uint64), -1)[0]) == 4
    assert [int(v) for v in be.asarray([-1, 2**64 + 3])] == [MOD - 1, 3]
    with pytest.raises(RingValueError, match="shift"):
        be.lshift(np.array([1], np.uint64), 64)
