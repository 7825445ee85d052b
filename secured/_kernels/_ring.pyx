# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, nonecheck=False
"""Compiled ring kernels over Z_2^64 (private; reached only through secured.backend).

Exact GEMM over Z_2^64 on float64 BLAS
--------------------------------------
Every uint64 entry x is written with three balanced digits at weights 2^0, 2^22, 2^42:

    x = d0 + 2^22 d1 + 2^42 d2  (mod 2^64),  d0, d2 in [-2^21, 2^21),  d1 in [-2^19, 2^19)

The weights are chosen so that 22 + 42 = 64: the digit products (1,2), (2,1), (2,2) vanish
mod 2^64 and C = A B (mod 2^64) needs only

    C = A0 B0 + 2^22 (A0 B1 + A1 B0) + 2^42 (A0 B2 + A2 B0) + 2^44 A1 B1
      = P0 + 2^22 (Q - P0 - P1) + 2^42 R + 2^44 P1
    P0 = A0 B0,  P1 = A1 B1,  Q = (A0 + A1)(B0 + B1),  R = [A0 A2] [B2; B0]

four BLAS calls and five K-sized products (a truncated Karatsuba). With the inner dimension
cut into chunks of at most 1024, every float64 partial sum is an integer of magnitude at most
2^53 (R: 2 * 1024 * 2^42; Q: 1024 * (2^21 + 2^19)^2 < 2^53), hence exact whatever order BLAS
adds in. The kernels below do the O(n^2) parts: splitting into digit buffers laid out for the
four GEMMs, and recombining the float64 products modulo 2^64.

Buffer layouts (Kc = chunk length, nch = number of chunks, slots s = 0..3):
    A side  (rows, nch, 4, Kc)      slots [A0, A2, A1, A0+A1]
    B side  (batch, nch, 4, Kc, n)  slots [B2, B0, B1, B0+B1]
so that slots 0:2 of a chunk are the concatenated operands [A0 A2] and [B2; B0].
"""

from libc.stdint cimport uint64_t, int64_t
from libc.math cimport rint, ldexp
from cython.parallel cimport prange

cdef uint64_t MASK20 = (1 << 20) - 1
cdef uint64_t MASK22 = (1 << 22) - 1


ctypedef struct Digits:
    double d0
    double d1
    double d2


cdef inline Digits _digits(uint64_t x) noexcept nogil:
    # Branch-free balanced digits: t - 2^w when t >= 2^(w-1) (random shares would make a
    # branch mispredict half the time).
    cdef Digits d
    cdef int64_t t
    t = <int64_t>(x & MASK22)
    t -= (t >> 21) << 22
    d.d0 = <double>t
    x = (x - <uint64_t>t) >> 22
    t = <int64_t>(x & MASK20)
    t -= (t >> 19) << 20
    d.d1 = <double>t
    x = (x - <uint64_t>t) >> 20
    t = <int64_t>(x & MASK22)
    t -= (t >> 21) << 22
    d.d2 = <double>t
    return d


def split_a(const uint64_t[:, ::1] a, double[:, ::1] out, Py_ssize_t kc, int threads):
    """Write the digit slots of the left operand (rows, k) into out (rows, nch*4*kc)."""
    cdef Py_ssize_t rows = a.shape[0], k = a.shape[1], r, kk, c, base, stop
    cdef Digits d
    with nogil:
        for r in prange(rows, num_threads=threads, schedule="static"):
            base = 0
            kk = 0
            while kk < k:
                stop = kk + kc
                if stop > k:
                    stop = k
                c = 0
                while kk < stop:
                    d = _digits(a[r, kk])
                    out[r, base + c] = d.d0
                    out[r, base + kc + c] = d.d2
                    out[r, base + 2 * kc + c] = d.d1
                    out[r, base + 3 * kc + c] = d.d0 + d.d1
                    c = c + 1
                    kk = kk + 1
                base = base + 4 * kc


def split_b(const uint64_t[:, :, ::1] b, double[:, ::1] out, Py_ssize_t kc, int threads):
    """Write the digit slots of the right operand (batch, k, n) into out (batch, nch*4*kc*n)."""
    cdef Py_ssize_t batch = b.shape[0], k = b.shape[1], n = b.shape[2]
    cdef Py_ssize_t idx, total = batch * k, q, kk, j, base, plane = kc * n
    cdef Digits d
    with nogil:
        for idx in prange(total, num_threads=threads, schedule="static"):
            q = idx // k
            kk = idx - q * k
            base = (kk // kc) * 4 * plane + (kk % kc) * n
            for j in range(n):
                d = _digits(b[q, kk, j])
                out[q, base + j] = d.d2
                out[q, base + plane + j] = d.d0
                out[q, base + 2 * plane + j] = d.d1
                out[q, base + 3 * plane + j] = d.d0 + d.d1


def combine(const double[::1] p0, const double[::1] p1, const double[::1] q,
            const double[::1] r, uint64_t[::1] acc, bint accumulate, int threads):
    """acc (+)= P0 + 2^22 (Q - P0 - P1) + 2^42 R + 2^44 P1 (mod 2^64), elementwise."""
    cdef Py_ssize_t i, n = acc.shape[0]
    cdef int64_t c0, c11
    cdef uint64_t v
    with nogil:
        for i in prange(n, num_threads=threads, schedule="static"):
            c0 = <int64_t>p0[i]
            c11 = <int64_t>p1[i]
            v = (<uint64_t>c0
                 + (<uint64_t>(<int64_t>q[i] - c0 - c11) << 22)
                 + (<uint64_t>(<int64_t>r[i]) << 42)
                 + (<uint64_t>c11 << 44))
            if accumulate:
                acc[i] = acc[i] + v
            else:
                acc[i] = v


def encode_fixed(const double[::1] x, uint64_t[::1] out, int f, int threads):
    """out = round(x * 2^f) as two's complement; returns how many values did not fit."""
    cdef Py_ssize_t i, n = x.shape[0], bad = 0
    cdef double scale = ldexp(1.0, f), limit = ldexp(1.0, 63), v
    with nogil:
        for i in prange(n, num_threads=threads, schedule="static"):
            v = rint(x[i] * scale)
            # NaN fails both comparisons and is counted as not fitting.
            if v > -limit and v < limit:
                out[i] = <uint64_t><int64_t>v
            else:
                out[i] = 0
                bad += 1
    return bad


def decode_fixed(const uint64_t[::1] x, double[::1] out, int f, int threads):
    """out = signed(x) / 2^f."""
    cdef Py_ssize_t i, n = x.shape[0]
    cdef double inv = ldexp(1.0, -f)
    with nogil:
        for i in prange(n, num_threads=threads, schedule="static"):
            out[i] = <double>(<int64_t>x[i]) * inv


def spline_pick(const uint64_t[:, ::1] onehot, const uint64_t[:, ::1] dtab, const int64_t[::1] u,
                const uint64_t[:, ::1] pieces, const uint64_t[::1] wrap, uint64_t[::1] out, int threads):
    """out[e] = sum_v onehot[e, v ^ u[e]] * P[e, v] - dtab[e, u[e]] mod 2^64, P[e, v] = pieces[e, v]
    for v < S / 2 and pieces[e, v - S / 2] + wrap[v - S / 2] above (S = onehot's width): a
    party's share of the piece picked by the masked index u (the masked spline's last step)."""
    cdef Py_ssize_t n_e = onehot.shape[0], size = onehot.shape[1], half = size // 2, e, v
    cdef uint64_t acc, p
    with nogil:
        for e in prange(n_e, schedule="static", num_threads=threads):
            acc = 0
            for v in range(size):
                if v < half:
                    p = pieces[e, v]
                else:
                    p = pieces[e, v - half] + wrap[v - half]
                acc = acc + onehot[e, v ^ u[e]] * p
            out[e] = acc - dtab[e, u[e]]
