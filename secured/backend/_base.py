"""The RingBackend interface and the exact limb-split GEMM shared by every backend.

A backend is an array namespace (``xp``: numpy or cupy) plus a few kernels. Everything that
only needs the namespace — ring add/sub/mul/shift, XOR/AND, the GEMM orchestration — lives
here once; backends supply the digit split, the recombination, fixed-point coding, the PRG and
bit slicing (see ``secured/_kernels/_ring.pyx`` for the arithmetic behind the GEMM).
"""

from __future__ import annotations

import abc
import math
import threading
from typing import Any, ClassVar

import numpy as np

from .._config import get_config
from ..exceptions import FixedPointOverflowError, RingValueError

__all__ = ["RingBackend", "CHUNK", "RING_BITS"]

RING_BITS = 64
#: Largest inner-dimension chunk for which every float64 partial sum of the limb GEMM is an
#: exact integer: the concatenated product R sums 2 * 1024 terms of magnitude <= 2^42 = 2^53.
CHUNK = 1024
#: ``matmul`` uses numpy's integer matmul (exact mod 2^64) when a side of the output is at most
#: this thin or the product has at most this many multiply-adds; BLAS limbs otherwise (here:
#: (3750 x 20) @ (20 x 10) 0.47 ms against 0.70 ms, (10 x 3750) @ (3750 x 20) 0.56 against 0.61;
#: 256^3 and up the same or slower). tests/backend/test_ring_matmul.py checks both paths.
NATIVE_MATMUL_SIDE, NATIVE_MATMUL_MACS = 32, 1 << 21
_MOD = 1 << 64
#: Scratch buffers up to this size are kept per thread and reused by the next matmul: fresh
#: pages cost as much as a GEMM at n=1024 (the allocator maps buffers over 32 MiB anew).
WORKSPACE_BYTES = 256 << 20


class RingBackend(abc.ABC):
    """Arithmetic over Z_2^64 on uint64 arrays, fixed point, PRG and bit operations.

    Every backend gives bit-identical results on ring operations; they differ only in where
    and how fast they run. Protocol code calls these methods and never imports Cython or
    cupy itself.

    >>> from secured.backend import get_backend
    >>> be = get_backend(name="numpy")
    >>> x = be.encode([1.5, -2.25])
    >>> be.decode(be.add(x, x)).tolist()
    [3.0, -4.5]
    """

    name: ClassVar[str]
    xp: Any  # the array module
    _scratch = threading.local()

    def _workspace(self, slot: str, shape: tuple[int, ...], dtype: Any, zero: bool = False) -> Any:
        """A scratch array for the limb GEMM, reused across calls on this thread."""
        xp = self.xp
        size = math.prod(shape)
        nbytes = size * np.dtype(dtype).itemsize
        if xp is not np or nbytes > WORKSPACE_BYTES:
            return (xp.zeros if zero else xp.empty)(shape, dtype=dtype)
        cache = self._scratch.__dict__.setdefault("buffers", {})
        buf = cache.get(slot)
        if buf is None or buf.size < size or buf.dtype != dtype:
            buf = cache[slot] = np.empty(size, dtype=dtype)
        out = buf[:size].reshape(shape)
        if zero:
            out.fill(0)
        return out

    # ------------------------------------------------------------------ arrays
    def array_type(self) -> type:
        return self.xp.ndarray

    def asarray(self, x: Any) -> Any:
        """A uint64 array of this backend's namespace; Python ints are reduced mod 2^64."""
        xp = self.xp
        if type(x) is xp.ndarray and x.dtype == _U64:   # the common case, first: no conversion
            return x
        if isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_)):
            return xp.asarray(int(x) % _MOD, dtype=xp.uint64)
        if isinstance(x, (list, tuple)):
            obj = np.asarray(x, dtype=object)
            if all(isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))
                   for v in obj.ravel()):
                flat = [int(v) % _MOD for v in obj.ravel()]
                return xp.asarray(np.asarray(flat, dtype=np.uint64).reshape(obj.shape))
            x = np.asarray(x)
        dtype = getattr(x, "dtype", None)
        if dtype is None or np.dtype(dtype) != np.uint64:
            raise RingValueError(
                "Ring arithmetic takes uint64 arrays; got "
                f"{type(x).__name__} of dtype {dtype}. Encode reals with backend.encode(...) "
                "or reinterpret signed integers with .view(numpy.uint64)."
            )
        return xp.asarray(x)

    def zeros(self, shape: tuple[int, ...] | int) -> Any:
        return self.xp.zeros(shape, dtype=self.xp.uint64)

    def to_numpy(self, x: Any) -> np.ndarray:
        return np.asarray(x)

    def synchronize(self) -> None:
        """Wait for queued device work (a no-op on CPU backends); used for timing."""

    # ------------------------------------------------------------------ ring ops
    def add(self, a: Any, b: Any) -> Any:
        return self.xp.add(self.asarray(a), self.asarray(b))

    def sub(self, a: Any, b: Any) -> Any:
        return self.xp.subtract(self.asarray(a), self.asarray(b))

    def neg(self, a: Any) -> Any:
        a = self.asarray(a)
        return self.xp.subtract(self.xp.zeros_like(a), a)

    def mul(self, a: Any, b: Any) -> Any:
        return self.xp.multiply(self.asarray(a), self.asarray(b))

    def sum(self, a: Any, axis: int | tuple[int, ...] | None = None) -> Any:
        return self.xp.sum(self.asarray(a), axis=axis, dtype=self.xp.uint64)

    def lshift(self, a: Any, s: int) -> Any:
        return self.xp.left_shift(self.asarray(a), self.xp.uint64(self._shift(s)))

    def rshift(self, a: Any, s: int) -> Any:
        """Logical right shift (zeros enter from the left)."""
        return self.xp.right_shift(self.asarray(a), self.xp.uint64(self._shift(s)))

    def arshift(self, a: Any, s: int) -> Any:
        """Arithmetic right shift of the two's-complement value (sign bits enter)."""
        a = self.asarray(a)
        return self.xp.right_shift(a.view(self.xp.int64), self._shift(s)).view(self.xp.uint64)

    @staticmethod
    def _shift(s: int) -> int:
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or not 0 <= s < RING_BITS:
            raise RingValueError(f"A shift must be an int in [0, 63]; got {s!r}.")
        return int(s)

    # ------------------------------------------------------------------ matmul
    def matmul(self, a: Any, b: Any) -> Any:
        """Exact ``a @ b`` over Z_2^64 with numpy's matmul shape rules (batched, broadcast)."""
        a, b = self.asarray(a), self.asarray(b)
        if a.ndim == 0 or b.ndim == 0:
            raise RingValueError("matmul needs arrays with at least one dimension; use mul for scalars.")
        squeeze_a, squeeze_b = a.ndim == 1, b.ndim == 1
        if squeeze_a:
            a = a[None, :]
        if squeeze_b:
            b = b[:, None]
        m, k = a.shape[-2:]
        k2, n = b.shape[-2:]
        if k != k2:
            raise RingValueError(
                f"matmul: inner dimensions differ (left operand has {k} columns, right has {k2} rows)."
            )
        try:
            batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
        except ValueError:
            raise RingValueError(
                f"matmul: batch shapes {a.shape[:-2]} and {b.shape[:-2]} do not broadcast."
            ) from None
        if self.xp is np and (min(m, n) <= NATIVE_MATMUL_SIDE or m * k * n <= NATIVE_MATMUL_MACS):
            # numpy's own integer matmul wraps mod 2^64 (exact) and, without BLAS, wins on thin
            # or small products (a training batch times a layer: up to 10x); BLAS limbs win above
            out = self.xp.matmul(a, b)
        else:
            out = self._limb_matmul(a, b, batch, m, k, n)
        if squeeze_a:
            out = out[..., 0, :]
        if squeeze_b:
            out = out[..., 0]
        return out

    def _limb_matmul(self, a: Any, b: Any, batch: tuple[int, ...], m: int, k: int, n: int) -> Any:
        xp = self.xp
        out_shape = (*batch, m, n)
        if k == 0 or m == 0 or n == 0 or math.prod(batch) == 0:
            return xp.zeros(out_shape, dtype=xp.uint64)
        nch = -(-k // CHUNK)
        kc = -(-k // nch)
        padded = nch * kc != k
        a_rows = math.prod(a.shape[:-1])
        b_batch = math.prod(b.shape[:-2])
        abuf = self._workspace("a", (a_rows, nch * 4 * kc), xp.float64, zero=padded)
        bbuf = self._workspace("b", (b_batch, nch * 4 * kc * n), xp.float64, zero=padded)
        self._split_a(xp.ascontiguousarray(a.reshape(a_rows, k)), abuf, kc)
        self._split_b(xp.ascontiguousarray(b.reshape(b_batch, k, n)), bbuf, kc)
        abuf = abuf.reshape(*a.shape[:-1], nch, 4, kc)
        bbuf = bbuf.reshape(*b.shape[:-2], nch, 4, kc, n)
        p0, p1, q, r = (self._workspace(slot, out_shape, xp.float64) for slot in ("p0", "p1", "q", "r"))
        acc = xp.empty(out_shape, dtype=xp.uint64)
        for j in range(nch):
            aj, bj = abuf[..., j, :, :], bbuf[..., j, :, :, :]
            xp.matmul(aj[..., 0, :], bj[..., 1, :, :], out=p0)  # A0 B0
            xp.matmul(aj[..., 2, :], bj[..., 2, :, :], out=p1)  # A1 B1
            xp.matmul(aj[..., 3, :], bj[..., 3, :, :], out=q)  # (A0+A1)(B0+B1)
            cat_a = aj[..., 0:2, :].reshape(*aj.shape[:-2], 2 * kc)  # [A0 A2]
            cat_b = bj[..., 0:2, :, :].reshape(*bj.shape[:-3], 2 * kc, n)  # [B2; B0]
            xp.matmul(cat_a, cat_b, out=r)
            self._combine(p0, p1, q, r, acc, accumulate=j > 0)
        return acc

    @abc.abstractmethod
    def _split_a(self, a2d: Any, out: Any, kc: int) -> None:
        """Fill out (rows, nch*4*kc) with the digit slots [A0, A2, A1, A0+A1] per chunk."""

    @abc.abstractmethod
    def _split_b(self, b3d: Any, out: Any, kc: int) -> None:
        """Fill out (batch, nch*4*kc*n) with the digit slots [B2, B0, B1, B0+B1] per chunk."""

    @abc.abstractmethod
    def _combine(self, p0: Any, p1: Any, q: Any, r: Any, acc: Any, accumulate: bool) -> None:
        """acc (+)= P0 + 2^22 (Q - P0 - P1) + 2^42 R + 2^44 P1 mod 2^64, elementwise."""

    # ------------------------------------------------------------------ fixed point
    def encode(self, x: Any, fractional_bits: int | None = None) -> Any:
        """round(x * 2^f) in two's complement; values must satisfy |x| < 2^(63-f).

        The round trip decode(encode(x)) is within 2^-(f+1) of x over that whole range.
        NaN, infinities and values out of range raise FixedPointOverflowError.
        """
        f = self._frac(fractional_bits)
        x = self.xp.asarray(x, dtype=self.xp.float64)
        out, bad = self._encode(self.xp.ascontiguousarray(x), f)
        if bad:
            raise FixedPointOverflowError(
                f"{bad} of {x.size} values are NaN, infinite or outside the fixed-point range "
                f"|x| < 2^{63 - f} (with {f} fractional bits). Clean or rescale the input, or "
                "use fewer fractional bits."
            )
        return out

    def decode(self, x: Any, fractional_bits: int | None = None) -> Any:
        """The real value signed(x) / 2^f as float64."""
        return self._decode(self.xp.ascontiguousarray(self.asarray(x)), self._frac(fractional_bits))

    @staticmethod
    def _frac(f: int | None) -> int:
        if f is None:
            return int(get_config()["fractional_bits"])
        if isinstance(f, bool) or not isinstance(f, (int, np.integer)) or not 0 <= f <= 62:
            raise RingValueError(f"fractional_bits must be an int in [0, 62]; got {f!r}.")
        return int(f)

    @abc.abstractmethod
    def _encode(self, x: Any, f: int) -> tuple[Any, int]:
        """(encoded uint64 array, number of values that did not fit)."""

    @abc.abstractmethod
    def _decode(self, x: Any, f: int) -> Any: ...

    # ------------------------------------------------------------------ PRG
    @abc.abstractmethod
    def prg(self, key: bytes, counter: int, shape: tuple[int, ...] | int, offset: int = 0) -> Any:
        """uint64 words of the ChaCha20 stream for (key, counter), from word ``offset``."""

    # ------------------------------------------------------------------ bits
    def xor(self, a: Any, b: Any) -> Any:
        return self.xp.bitwise_xor(self.asarray(a), self.asarray(b))

    def and_(self, a: Any, b: Any) -> Any:
        return self.xp.bitwise_and(self.asarray(a), self.asarray(b))

    def not_(self, a: Any) -> Any:
        return self.xp.invert(self.asarray(a))

    def bit_decompose(self, x: Any) -> Any:
        """Bit-slice x: planes (64, ceil(size/64)); plane i word g bit t = bit i of x.flat[64g+t]."""
        x = self.xp.ascontiguousarray(self.asarray(x).reshape(-1))
        planes = self.xp.empty((RING_BITS, -(-x.size // 64)), dtype=self.xp.uint64)
        self._bit_decompose(x, planes)
        return planes

    def bit_compose(self, planes: Any, size: int) -> Any:
        """Inverse of bit_decompose: the ``size`` uint64 values whose bits the planes hold."""
        planes = self.xp.ascontiguousarray(self.asarray(planes))
        if planes.ndim != 2 or planes.shape[0] > RING_BITS or planes.shape[1] * 64 < size:
            raise RingValueError(
                f"bit_compose needs planes of shape (<=64, >= ceil(size/64)); got {planes.shape} "
                f"for size {size}."
            )
        out = self.xp.empty(size, dtype=self.xp.uint64)
        self._bit_compose(planes, out)
        return out

    @abc.abstractmethod
    def _bit_decompose(self, x: Any, planes: Any) -> None: ...

    @abc.abstractmethod
    def _bit_compose(self, planes: Any, out: Any) -> None: ...

    # ------------------------------------------------------------------ 4-bit digits
    def digit_thermometers(self, x: Any) -> Any:
        """(16, 16, W) uint64, bit-sliced over the values x (W = ceil(size / 64) words): plane
        [j, v] holds [v < digit j of x] (digit j: bits 4j..4j+3) for every value."""
        xp = self.xp
        planes = self.bit_decompose(x)
        select = _minterms(xp, planes.reshape(16, 4, -1))                     # [digit == u] (16, 16, W)
        therm = xp.zeros_like(select)
        for v in range(14, -1, -1):                                           # [v < digit]
            therm[v] = therm[v + 1] ^ select[v + 1]
        return xp.ascontiguousarray(therm.transpose(1, 0, 2))

    def digit_compare(self, cplanes: Any, therm: Any, first: bool) -> tuple[Any, Any]:
        """XOR shares of [c_j < r_j] and [c_j == r_j] ((16, W) each) for the 4-bit digits j of
        public values c (their bit planes, ``bit_decompose``) and a secret r of which this party
        holds shares of the digit thermometers (``digit_thermometers``: [v < r_j]); the top
        digit compares its low 3 bits only. ``first``: this party adds the public constants."""
        xp = self.xp
        words = cplanes.shape[1]
        select = _minterms(xp, cplanes.reshape(16, 4, words))                 # [c_j == v] (values, digits, W)
        therm = xp.ascontiguousarray(therm.transpose(1, 0, 2))                # T[v] (values, digits, W)
        below = xp.concatenate([xp.full((1, 16, words), ~np.uint64(0) if first else 0, dtype=xp.uint64),
                                therm[:-1]])                                  # T[v - 1], T[-1] = 1
        equal = below ^ therm
        low = xp.asarray(np.arange(16) % 8)
        r_top = therm[7, 15].copy()
        therm[:, 15] = therm[low + 8, 15] ^ therm[low, 15] ^ r_top[None, :]
        equal[:, 15] = equal[low, 15] ^ equal[low + 8, 15]
        therm &= select                                                       # the code's bit at the digit
        equal &= select
        lt, eq = therm[0], equal[0]
        for v in range(1, 16):
            lt, eq = lt ^ therm[v], eq ^ equal[v]
        return lt, eq

    # ------------------------------------------------------------------ byte thermometers
    def byte_compare(self, s: Any, therm: Any, first: bool) -> tuple[Any, Any]:
        """XOR shares of [s_d < r_d] and [s_d == r_d] for the bytes d of public words s (E, K)
        and a secret r per element of which this party holds shares of its bytes' 256-bit
        thermometer codes (therm (E, 32): bit v of byte d's code is [v < r_d]); packed (8, W)
        each, bit t of word w of row d for comparison 64 w + t (comparisons numbered e K + k).
        ``first``: this party adds the public constants."""
        xp = self.xp
        e, k = s.shape
        codes = xp.unpackbits(xp.ascontiguousarray(therm).view(xp.uint8).reshape(e, 8, 32),
                              axis=-1, bitorder="little")                     # T[v] (E, 8, 256)
        below = xp.empty_like(codes)
        below[..., 0] = 1 if first else 0                                     # T[-1] = 1, public: once
        below[..., 1:] = codes[..., :-1]                                       # T[v - 1]
        digits = xp.ascontiguousarray(s).view(xp.uint8).reshape(e, k, 8).astype(xp.int64)
        where = ((xp.arange(e)[:, None, None] * 8 + xp.arange(8)[None, None, :]) << 8) + digits
        lt = codes.reshape(-1)[where].reshape(e * k, 8).T
        eq = (below ^ codes).reshape(-1)[where].reshape(e * k, 8).T
        return self.pack_bits(lt), self.pack_bits(eq)

    def spline_pick(self, onehot: Any, dtab: Any, u: Any, pieces: Any, wrap: Any) -> Any:
        """A party's share of the piece picked by the opened masked index u (E,): the public
        values of every piece (``pieces`` (E, S / 2), plus ``wrap`` for the upper half) weighted
        by its share of the unit vector read at v ^ u, less its share of D at u (mod 2^64)."""
        xp = self.xp
        e, size = onehot.shape
        rows = xp.arange(e)
        public = xp.concatenate([pieces, pieces + wrap[None, :]], axis=1)
        picked = onehot[rows[:, None], xp.arange(size)[None, :] ^ u[:, None]]
        with np.errstate(over="ignore"):
            return (picked * public).sum(axis=1, dtype=xp.uint64) - dtab[rows, u]

    def pack_bits(self, bits: Any) -> Any:
        """Pack booleans along the last axis into uint64 words (bit t of word w = bits[64w+t])."""
        xp = self.xp
        bits = xp.asarray(bits)
        if bits.dtype.kind not in "bui":
            raise RingValueError(f"pack_bits takes a boolean or 0/1 integer array; got dtype {bits.dtype}.")
        n = bits.shape[-1] if bits.ndim else 1
        words = -(-n // 64)
        pad = [(0, 0)] * (bits.ndim - 1) + [(0, words * 64 - n)]
        padded = xp.pad((bits != 0).astype(xp.uint8), pad)
        packed = xp.packbits(padded, axis=-1, bitorder="little")
        return xp.ascontiguousarray(packed).view(xp.uint64) if xp is np else packed.view(xp.uint64)

    def unpack_bits(self, words: Any, n: int) -> Any:
        """Inverse of pack_bits: a bool array whose last axis has ``n`` bits."""
        xp = self.xp
        words = xp.ascontiguousarray(self.asarray(words))
        if words.ndim == 0 or words.shape[-1] * 64 < n:
            raise RingValueError(f"unpack_bits: {words.shape} words hold fewer than {n} bits.")
        raw = words.view(xp.uint8)
        return xp.unpackbits(raw, axis=-1, bitorder="little")[..., :n].astype(bool)


_U64 = np.dtype(np.uint64)


def _minterms(xp: Any, bits: Any) -> Any:
    """(2^b, D, W): plane v is [the b-bit digit == v] for bit planes (D, b, W), lowest bit first."""
    out = xp.empty((1 << bits.shape[1], bits.shape[0], bits.shape[2]), dtype=xp.uint64)
    out[0] = ~np.uint64(0)
    for i in range(bits.shape[1]):
        k = 1 << i
        xp.bitwise_and(out[:k], bits[None, :, i], out=out[k:2 * k])      # bit i set
        out[:k] &= ~bits[None, :, i]                                      # bit i clear
    return out
