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
