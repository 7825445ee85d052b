# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, nonecheck=False
"""Compiled bit kernels for binary (XOR) shares (private; reached through secured.backend).

Bit slicing turns n uint64 values into 64 bit planes of ceil(n/64) words: bit t of word g of
plane i is bit i of value 64*g + t. One XOR or AND on a plane word then acts on 64 values at
once, which is how the binary adder of the comparison protocols runs. Each 64x64 block is
transposed in registers by six rounds of masked swaps (the classic recursive block transpose).
"""

from libc.stdint cimport uint64_t
from libc.stdlib cimport malloc, free
from cython.parallel cimport prange, parallel


cdef inline void _transpose64(uint64_t* a) noexcept nogil:
    # Swap the off-diagonal j x j blocks of every 2j x 2j block, for j = 32, 16, ..., 1.
    # Row r is word a[r]; column c is bit c (least significant first).
    cdef int j = 32, k
    cdef uint64_t m = 0x00000000FFFFFFFFULL, t
    while j != 0:
        k = 0
        while k < 64:
            t = ((a[k] >> j) ^ a[k + j]) & m
            a[k] ^= t << j
            a[k + j] ^= t
            k = (k + j + 1) & ~j
        j >>= 1
        m ^= m << j


def bit_decompose(const uint64_t[::1] x, uint64_t[:, ::1] planes, int threads):
    """planes[i, g] bit t = bit i of x[64 g + t] (zero beyond len(x))."""
    cdef Py_ssize_t n = x.shape[0], words = planes.shape[1], g, t, i, lim
    cdef uint64_t* block
    with nogil, parallel(num_threads=threads):
        block = <uint64_t*>malloc(64 * sizeof(uint64_t))
        for g in prange(words, schedule="static"):
            lim = n - 64 * g
            if lim > 64:
                lim = 64
            for t in range(64):
                if t < lim:
                    block[t] = x[64 * g + t]
                else:
                    block[t] = 0
            _transpose64(block)
            for i in range(64):
                planes[i, g] = block[i]
        free(block)


def bit_compose(const uint64_t[:, ::1] planes, uint64_t[::1] x, int threads):
    """Inverse of bit_decompose: x[64 g + t] bit i = planes[i, g] bit t."""
    cdef Py_ssize_t n = x.shape[0], words = planes.shape[1], nplanes = planes.shape[0]
    cdef Py_ssize_t g, t, i, lim
    cdef uint64_t* block
    with nogil, parallel(num_threads=threads):
        block = <uint64_t*>malloc(64 * sizeof(uint64_t))
        for g in prange(words, schedule="static"):
            for i in range(64):
                if i < nplanes:
                    block[i] = planes[i, g]
                else:
                    block[i] = 0
            _transpose64(block)
            lim = n - 64 * g
            if lim > 64:
                lim = 64
            for t in range(lim):
                x[64 * g + t] = block[t]
        free(block)


# ---------------------------------------------------------------------- 4-bit digit thermometers
cdef inline uint64_t _minterm(uint64_t b0, uint64_t b1, uint64_t b2, uint64_t b3, int u) noexcept nogil:
    """[digit == u] for a 4-bit digit whose bit planes (lowest first) are b0..b3."""
    return ((b0 if u & 1 else ~b0) & (b1 if u & 2 else ~b1) & (b2 if u & 4 else ~b2)
            & (b3 if u & 8 else ~b3))


def digit_thermometers(const uint64_t[:, ::1] planes, uint64_t[:, :, ::1] out, int threads):
    """out[j, v, g] = [v < digit j] for the sixteen 4-bit digits j of the values whose bit planes
    (64, W) are given (``bit_decompose``): digit j is bits 4j..4j+3. Words innermost (the
    compiler vectorises them), digits in parallel."""
    cdef Py_ssize_t words = planes.shape[1], g
    cdef int j, u
    with nogil:
        for j in prange(16, schedule="static", num_threads=threads):
            for g in range(words):
                out[j, 15, g] = 0
            for u in range(15, 0, -1):                # [u - 1 < d] = [u < d] | [d == u]
                for g in range(words):
                    out[j, u - 1, g] = out[j, u, g] | _minterm(planes[4 * j, g], planes[4 * j + 1, g],
                                                               planes[4 * j + 2, g], planes[4 * j + 3, g], u)


def digit_compare(const uint64_t[:, ::1] cplanes, const uint64_t[:, :, ::1] therm, bint first,
                  uint64_t[:, ::1] lt, uint64_t[:, ::1] eq, int threads):
    """A party's XOR shares of [c_j < r_j] and [c_j == r_j] (lt, eq: (16, W)) for the 4-bit digits
    j of public values c (bit planes (64, W)) and a secret r whose digit thermometers it holds
    shared (therm (16, 16, W): [v < r_j]); the top digit compares its low 3 bits only. ``first``:
    this party adds the public constants (its share of [-1 < r_j] is all ones). Words
    innermost, digits in parallel."""
    cdef Py_ssize_t words = cplanes.shape[1], g
    cdef int j, v, low
    cdef uint64_t ones = 0xFFFFFFFFFFFFFFFFULL if first else 0, sel, t, e, below
    with nogil:
        for j in prange(16, schedule="static", num_threads=threads):
            for g in range(words):
                lt[j, g] = 0
                eq[j, g] = 0
            for v in range(16):
                low = v & 7
                for g in range(words):
                    sel = _minterm(cplanes[4 * j, g], cplanes[4 * j + 1, g], cplanes[4 * j + 2, g],
                                   cplanes[4 * j + 3, g], v)
                    if j < 15:
                        t = therm[j, v, g]
                        below = therm[j, v - 1, g] if v > 0 else ones
                        e = below ^ t
                    else:                              # the top digit without r's top bit (T[7])
                        t = therm[15, low + 8, g] ^ therm[15, low, g] ^ therm[15, 7, g]
                        below = therm[15, low - 1, g] if low > 0 else ones
                        e = below ^ therm[15, low, g] ^ therm[15, low + 7, g] ^ therm[15, low + 8, g]
                    lt[j, g] = lt[j, g] ^ (t & sel)
                    eq[j, g] = eq[j, g] ^ (e & sel)


# ---------------------------------------------------------------------- byte thermometers
cdef inline uint64_t _code_bit(const uint64_t[:, ::1] therm, Py_ssize_t e, int d, int v) noexcept nogil:
    """Bit v of the 256-bit thermometer code of byte d of element e (4 words per byte)."""
    return (therm[e, 4 * d + (v >> 6)] >> (v & 63)) & 1


def byte_compare(const uint64_t[:, ::1] s, const uint64_t[:, ::1] therm, bint first,
                 uint64_t[:, ::1] lt, uint64_t[:, ::1] eq, int threads):
    """A party's XOR shares of [s_d < r_d] and [s_d == r_d] for the bytes d of public words s
    (E, K) and a secret r per element whose bytes' thermometer codes it holds shared (therm (E,
    32): bit v of byte d's code is [v < r_d]), packed: bit t of word w of row d is comparison
    64 w + t, comparisons numbered e K + k (lt, eq: (8, W), W = ceil(E K / 64)). ``first``:
    this party adds the public constants (its share of [-1 < r_d] is 1)."""
    cdef Py_ssize_t n_e = s.shape[0], n_k = s.shape[1], words = lt.shape[1], w, t, idx, e, k
    cdef int d, v
    cdef uint64_t bit, below, accl, acce
    cdef uint64_t one = 1 if first else 0
    with nogil:
        for w in prange(words, schedule="static", num_threads=threads):
            for d in range(8):
                accl = 0
                acce = 0
                for t in range(64):
                    idx = 64 * w + t
                    if idx >= n_e * n_k:
                        break
                    e = idx // n_k
                    k = idx - e * n_k
                    v = <int>((s[e, k] >> (8 * d)) & 255)
                    bit = _code_bit(therm, e, d, v)
                    below = _code_bit(therm, e, d, v - 1) if v > 0 else one
                    accl = accl | (bit << t)
                    acce = acce | ((below ^ bit) << t)
                lt[d, w] = accl
                eq[d, w] = acce
