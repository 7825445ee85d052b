# cython: boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled loops of the data flow: MDAV microaggregation rounds.

MDAV's rounds each scan the remaining records four times (centroid, farthest from it,
farthest from that, k nearest to each); in numpy every scan allocates n x d temporaries and
the rounds cost ~4 ms each at 50k records. Fused here into allocation-free loops with a
bounded max-heap for the k nearest, removal by swapping with the end (order is irrelevant).
"""

import numpy as np
cimport numpy as cnp
from libc.stdlib cimport malloc, free

cnp.import_array()


cdef inline double _dist2(const double[:, ::1] X, Py_ssize_t i, const double* p, Py_ssize_t d) noexcept nogil:
    cdef double acc = 0.0, t
    cdef Py_ssize_t j
    for j in range(d):
        t = X[i, j] - p[j]
        acc += t * t
    return acc


cdef inline void _heap_push(double* hd, Py_ssize_t* hp, Py_ssize_t* size, Py_ssize_t cap,
                            double dist, Py_ssize_t pos) noexcept nogil:
    """Max-heap of the cap smallest distances seen (ties: the earlier position stays)."""
    cdef Py_ssize_t i, parent, child, c2
    cdef double td
    cdef Py_ssize_t tp
    if size[0] < cap:
        i = size[0]
        size[0] += 1
        hd[i] = dist
        hp[i] = pos
        while i > 0:
            parent = (i - 1) // 2
            if hd[parent] >= hd[i]:
                break
            td = hd[parent]; hd[parent] = hd[i]; hd[i] = td
            tp = hp[parent]; hp[parent] = hp[i]; hp[i] = tp
            i = parent
        return
    if dist >= hd[0]:
        return
    hd[0] = dist
    hp[0] = pos
    i = 0
    while True:
        child = 2 * i + 1
        if child >= cap:
            break
        c2 = child + 1
        if c2 < cap and hd[c2] > hd[child]:
            child = c2
        if hd[i] >= hd[child]:
            break
        td = hd[child]; hd[child] = hd[i]; hd[i] = td
        tp = hp[child]; hp[child] = hp[i]; hp[i] = tp
        i = child


cdef Py_ssize_t _farthest(const double[:, ::1] X, Py_ssize_t* rem, Py_ssize_t m, const double* p,
                          Py_ssize_t d) noexcept nogil:
    cdef Py_ssize_t a, best = 0
    cdef double bd = -1.0, dist
    for a in range(m):
        dist = _dist2(X, rem[a], p, d)
        if dist > bd:
            bd = dist
            best = a
    return best


cdef Py_ssize_t _take(const double[:, ::1] X, Py_ssize_t* rem, Py_ssize_t m, const double* p, Py_ssize_t d,
                      Py_ssize_t k, long long[::1] group, long long g, double* hd, Py_ssize_t* hp) noexcept nogil:
    """Assign the k remaining records nearest p to group g; returns the new remaining count."""
    cdef Py_ssize_t a, size = 0, j, pos
    for a in range(m):
        _heap_push(hd, hp, &size, k, _dist2(X, rem[a], p, d), a)
    # remove the chosen positions, largest first, by swapping with the end
    for j in range(size):
        group[rem[hp[j]]] = g
    # sort chosen positions descending (k is small: insertion sort)
    cdef Py_ssize_t i2, j2, key
    for i2 in range(1, size):
        key = hp[i2]
        j2 = i2 - 1
        while j2 >= 0 and hp[j2] < key:
            hp[j2 + 1] = hp[j2]
            j2 -= 1
        hp[j2 + 1] = key
    for j in range(size):
        pos = hp[j]
        m -= 1
        rem[pos] = rem[m]
    return m


def mdav_groups(const double[:, ::1] X, Py_ssize_t k):
    """Group label per row of X (standardized): MDAV with group size k (>= 1)."""
    cdef Py_ssize_t n = X.shape[0], d = X.shape[1], m = n, a, j, r, s
    cdef long long g = 0
    group_arr = np.full(n, -1, dtype=np.int64)
    cdef long long[::1] group = group_arr
    cdef Py_ssize_t* rem = <Py_ssize_t*> malloc(max(n, 1) * sizeof(Py_ssize_t))
    cdef double* c = <double*> malloc(max(d, 1) * sizeof(double))
    cdef double* pr = <double*> malloc(max(d, 1) * sizeof(double))
    cdef double* ps = <double*> malloc(max(d, 1) * sizeof(double))
    cdef double* hd = <double*> malloc(max(k, 1) * sizeof(double))
    cdef Py_ssize_t* hp = <Py_ssize_t*> malloc(max(k, 1) * sizeof(Py_ssize_t))
    if not (rem and c and pr and ps and hd and hp):
        free(rem); free(c); free(pr); free(ps); free(hd); free(hp)
        raise MemoryError()
    try:
        with nogil:
            for a in range(n):
                rem[a] = a
            while m >= 3 * k:
                for j in range(d):
                    c[j] = 0.0
                for a in range(m):
                    for j in range(d):
                        c[j] += X[rem[a], j]
                for j in range(d):
                    c[j] /= m
                r = _farthest(X, rem, m, c, d)
                for j in range(d):
                    pr[j] = X[rem[r], j]
                s = _farthest(X, rem, m, pr, d)
                for j in range(d):
                    ps[j] = X[rem[s], j]
                m = _take(X, rem, m, pr, d, k, group, g, hd, hp)
                g += 1
                m = _take(X, rem, m, ps, d, k, group, g, hd, hp)
                g += 1
            if m >= 2 * k:
                for j in range(d):
                    c[j] = 0.0
                for a in range(m):
                    for j in range(d):
                        c[j] += X[rem[a], j]
                for j in range(d):
                    c[j] /= m
                r = _farthest(X, rem, m, c, d)
                for j in range(d):
                    pr[j] = X[rem[r], j]
                m = _take(X, rem, m, pr, d, k, group, g, hd, hp)
                g += 1
            for a in range(m):
                group[rem[a]] = g
    finally:
        free(rem); free(c); free(pr); free(ps); free(hd); free(hp)
    return group_arr
