"""The numpy backend: the reference implementation, pure numpy, always importable.

It runs the same limb-split GEMM as the compiled backend (digits computed with vectorized
numpy), so it is exact and reasonably fast; the cython backend fuses the same steps into
single passes and is the CPU default.
"""

from __future__ import annotations

import math

import numpy as np

from ._base import RingBackend
from ._prg import chacha20_words

__all__ = ["NumpyBackend"]

def _balanced(x: np.ndarray, bits: int) -> np.ndarray:
    """The digit x mod 2^bits mapped to [-2^(bits-1), 2^(bits-1)), as int64."""
    t = (x & np.uint64((1 << bits) - 1)).astype(np.int64)
    return t - ((t >> (bits - 1)) << bits)


def digits(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Balanced digits (d0, d1, d2) with x = d0 + 2^22 d1 + 2^42 d2 mod 2^64."""
    d0 = _balanced(x, 22)
    x = (x - d0.view(np.uint64)) >> np.uint64(22)
    d1 = _balanced(x, 20)
    x = (x - d1.view(np.uint64)) >> np.uint64(20)
    d2 = _balanced(x, 22)
    return d0, d1, d2


class NumpyBackend(RingBackend):
    """The pure-numpy reference ring backend: always importable, the one the others are tested
    against."""
    name = "numpy"
    xp = np

    def _chunked(self, d: np.ndarray, kc: int, axis: int) -> np.ndarray:
        """Pad the K axis to nch*kc and split it into (nch, kc)."""
        k = d.shape[axis]
        nch = -(-k // kc)
        if nch * kc != k:
            pad = [(0, 0)] * d.ndim
            pad[axis] = (0, nch * kc - k)
            d = np.pad(d, pad)
        return d.reshape(*d.shape[:axis], nch, kc, *d.shape[axis + 1 :])

    def _split_a(self, a2d: np.ndarray, out: np.ndarray, kc: int) -> None:
        d0, d1, d2 = digits(a2d)
        view = out.reshape(a2d.shape[0], -1, 4, kc)
        for slot, d in enumerate((d0, d2, d1, d0 + d1)):
            view[:, :, slot, :] = self._chunked(d, kc, axis=1)

    def _split_b(self, b3d: np.ndarray, out: np.ndarray, kc: int) -> None:
        d0, d1, d2 = digits(b3d)
        n = b3d.shape[2]
        view = out.reshape(b3d.shape[0], -1, 4, kc, n)
        for slot, d in enumerate((d2, d0, d1, d0 + d1)):
            view[:, :, slot, :, :] = self._chunked(d, kc, axis=1)

    def _combine(self, p0, p1, q, r, acc, accumulate: bool) -> None:
        c0 = p0.astype(np.int64)
        c11 = p1.astype(np.int64)
        c1 = (q.astype(np.int64) - c0 - c11).view(np.uint64) << np.uint64(22)
        c2 = r.astype(np.int64).view(np.uint64) << np.uint64(42)
        c3 = c11.view(np.uint64) << np.uint64(44)
        value = c0.view(np.uint64) + c1 + c2 + c3
        if accumulate:
            acc += value
        else:
            acc[...] = value

    def _encode(self, x: np.ndarray, f: int) -> tuple[np.ndarray, int]:
        with np.errstate(invalid="ignore", over="ignore"):
            v = np.rint(x * np.ldexp(1.0, f))
            ok = np.abs(v) < np.ldexp(1.0, 63)
        bad = int(x.size - np.count_nonzero(ok))
        out = np.where(ok, v, 0.0).astype(np.int64).view(np.uint64)
        return out, bad

    def _decode(self, x: np.ndarray, f: int) -> np.ndarray:
        return x.view(np.int64).astype(np.float64) * np.ldexp(1.0, -f)

    def prg(self, key: bytes, counter: int, shape: tuple[int, ...] | int, offset: int = 0) -> np.ndarray:
        shape = (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(int(d) for d in shape)
        return chacha20_words(key, counter, math.prod(shape), offset).reshape(shape)

    def _bit_decompose(self, x: np.ndarray, planes: np.ndarray) -> None:
        words = planes.shape[1]
        padded = np.zeros(words * 64, dtype=np.uint64)
        padded[: x.size] = x
        # bits[g, t, i] = bit i of value 64g+t; regroup to [i, g, t] and pack over t.
        bits = np.unpackbits(padded.view(np.uint8).reshape(words, 64, 8), axis=-1, bitorder="little")
        bits = bits.reshape(words, 64, 64).transpose(2, 0, 1)
        planes[...] = np.packbits(np.ascontiguousarray(bits), axis=-1, bitorder="little").view(np.uint64)[..., 0]

    def _bit_compose(self, planes: np.ndarray, out: np.ndarray) -> None:
        nplanes, words = planes.shape
        bits = np.unpackbits(planes.view(np.uint8).reshape(nplanes, words, 8), axis=-1, bitorder="little")
        bits = bits.reshape(nplanes, words, 64)
        full = np.zeros((64, words, 64), dtype=np.uint8)
        full[:nplanes] = bits
        values = np.packbits(np.ascontiguousarray(full.transpose(1, 2, 0)), axis=-1, bitorder="little")
        out[...] = values.view(np.uint64).reshape(-1)[: out.size]
