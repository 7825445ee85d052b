"""The kernels of the masked comparison and the masked spline (4-bit digit thermometers and
comparisons, byte comparisons, the spline's pick): the compiled ones equal the array code of
the base backend, and both equal the values recomputed element by element."""

from __future__ import annotations

import numpy as np
import pytest

from secured.backend import get_backend

SIZES = [1, 63, 64, 65, 1000, 56_250]


def _digits(values: np.ndarray) -> np.ndarray:
    """(16, E) the 4-bit digits of uint64 values, lowest first."""
    return ((values[None, :] >> (4 * np.arange(16, dtype=np.uint64))[:, None]) & np.uint64(15)).astype(np.int64)


def _bit(planes: np.ndarray, e: int) -> np.ndarray:
    """The first e bits of bit-sliced words (..., W) as 0/1 ints (..., e)."""
    raw = np.unpackbits(np.ascontiguousarray(planes).view(np.uint8), axis=-1, bitorder="little")
    return raw[..., :e].astype(np.int64)


@pytest.mark.parametrize("e", SIZES)
def test_digit_thermometers(e):
    rng = np.random.default_rng(e)
    r = rng.integers(0, 2**64, e, dtype=np.uint64, endpoint=False)
    compiled, generic = get_backend(name="cython"), get_backend(name="numpy")
    got = compiled.digit_thermometers(r)
    np.testing.assert_array_equal(got, generic.digit_thermometers(r))
    expected = (np.arange(16)[None, :, None] < _digits(r)[:, None, :]).astype(np.int64)   # [v < r_j]
    np.testing.assert_array_equal(_bit(got, e), expected)


@pytest.mark.parametrize("e, parties", [(e, 2) for e in SIZES] + [(1000, 3)])
def test_digit_compare_opens_to_the_digit_comparisons(e, parties):
    """Each party's shares from its XOR share of r's thermometers; XORed together they are
    [c_j < r_j] and [c_j == r_j] per digit, the top digit on its low 3 bits."""
    rng = np.random.default_rng(e + parties)
    r = rng.integers(0, 2**64, e, dtype=np.uint64, endpoint=False)
    c = rng.integers(0, 2**64, e, dtype=np.uint64, endpoint=False)
    c[: e // 4] = r[: e // 4]                                   # equal digits, too
    compiled, generic = get_backend(name="cython"), get_backend(name="numpy")
    therm = generic.digit_thermometers(r)
    shares = [rng.integers(0, 2**64, therm.shape, dtype=np.uint64, endpoint=False) for _ in range(parties - 1)]
    shares.append(np.bitwise_xor.reduce([therm, *shares]))
    cplanes = generic.bit_decompose(c)
    lt = np.zeros((16, cplanes.shape[1]), dtype=np.uint64)
    eq = np.zeros_like(lt)
    for rank, share in enumerate(shares):
        a = compiled.digit_compare(cplanes, share, rank == 0)
        b = generic.digit_compare(cplanes, share, rank == 0)
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
        lt ^= a[0]
        eq ^= a[1]
    dc, dr = _digits(c), _digits(r)
    dc[15] &= 7
    dr[15] &= 7
    np.testing.assert_array_equal(_bit(lt, e), (dc < dr).astype(np.int64))
    np.testing.assert_array_equal(_bit(eq, e), (dc == dr).astype(np.int64))


@pytest.mark.parametrize("e, k, parties", [(1, 1, 2), (3, 97, 2), (50, 97, 3), (64, 5, 2)])
def test_byte_compare_opens_to_the_byte_comparisons(e, k, parties):
    """XOR shares of r's byte thermometer codes; every party's packed bits, XORed, are
    [s_d < r_d] and [s_d == r_d] for each byte d of each public word s[i, j]."""
    from secured.mpc._protocols import byte_thermometers

    rng = np.random.default_rng(e * k + parties)
    r = rng.integers(0, 2**64, e, dtype=np.uint64, endpoint=False)
    s = rng.integers(0, 2**64, (e, k), dtype=np.uint64, endpoint=False)
    s[:, 0] = r                                                  # equal bytes, too
    s[:, -1] = r ^ np.uint64(0xFF00FF00FF00FF00)
    compiled, generic = get_backend(name="cython"), get_backend(name="numpy")
    therm = byte_thermometers(np, r)
    shares = [rng.integers(0, 2**64, therm.shape, dtype=np.uint64, endpoint=False) for _ in range(parties - 1)]
    shares.append(np.bitwise_xor.reduce([therm, *shares]))
    words = -(-e * k // 64)
    lt, eq = np.zeros((8, words), dtype=np.uint64), np.zeros((8, words), dtype=np.uint64)
    for rank, share in enumerate(shares):
        a, b = compiled.byte_compare(s, share, rank == 0), generic.byte_compare(s, share, rank == 0)
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
        lt ^= a[0]
        eq ^= a[1]
    sb = s.reshape(-1, 1).view(np.uint8).reshape(-1, 8).T.astype(np.int64)          # (8, E K) bytes of s
    rb = np.repeat(r, k).view(np.uint8).reshape(-1, 8).T.astype(np.int64)           # r's, per comparison
    np.testing.assert_array_equal(_bit(lt, e * k), (sb < rb).astype(np.int64))
    np.testing.assert_array_equal(_bit(eq, e * k), (sb == rb).astype(np.int64))


@pytest.mark.parametrize("e, size", [(1, 4), (7, 256), (300, 16)])
def test_spline_pick_against_python_integers(e, size):
    rng = np.random.default_rng(size + e)
    draw = lambda *shape: rng.integers(0, 2**64, shape, dtype=np.uint64, endpoint=False)  # noqa: E731
    onehot, dtab, pieces, wrap = draw(e, size), draw(e, size), draw(e, size // 2), draw(size // 2)
    u = rng.integers(0, size, e).astype(np.int64)
    compiled, generic = get_backend(name="cython"), get_backend(name="numpy")
    got = compiled.spline_pick(onehot, dtab, u, pieces, wrap)
    np.testing.assert_array_equal(got, generic.spline_pick(onehot, dtab, u, pieces, wrap))
    mod = 1 << 64
    for i in range(e):
        public = [int(pieces[i, v % (size // 2)]) + (int(wrap[v - size // 2]) if v >= size // 2 else 0)
                  for v in range(size)]
        total = sum(int(onehot[i, v ^ int(u[i])]) * public[v] for v in range(size)) - int(dtab[i, u[i]])
        assert int(got[i]) == total % mod
