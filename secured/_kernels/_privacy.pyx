# cython: boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled loops of the data flow: MDAV microaggregation rounds, and the attacks' hot loops
(mixed-type k nearest neighbours, predicate match counting), parallel over queries.

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


cdef void _centroid(const double[:, ::1] X, Py_ssize_t* rem, Py_ssize_t m, double* c, Py_ssize_t d) noexcept nogil:
    """Mean of the remaining records into c."""
    cdef Py_ssize_t a, j
    for j in range(d):
        c[j] = 0.0
    for a in range(m):
        for j in range(d):
            c[j] += X[rem[a], j]
    for j in range(d):
        c[j] /= m


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
                _centroid(X, rem, m, c, d)
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
                _centroid(X, rem, m, c, d)
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


# -- attacks: mixed-type nearest neighbours and predicate counting ---------------------------

from cython.parallel cimport prange


cdef inline double _mixed(const double[:, ::1] A, Py_ssize_t i, const double[:, ::1] B, Py_ssize_t j,
                          const double[::1] inv_range, const unsigned char[::1] kind, const double[::1] tables,
                          const long long[::1] offsets, const long long[::1] ncells,
                          Py_ssize_t d) noexcept nogil:
    """Mixed-type distance between query row A[i] and data row B[j], summed over columns:
    kind 0 categorical codes (0 if equal else 1); kind 1 numeric |a - b| / range (both NaN 1,
    one NaN: +inf, sorts last); kind 2 a cost table indexed by (query code, data code), for
    generalized cells (0 where the released cell covers the value)."""
    cdef double acc = 0.0, a, b, t
    cdef Py_ssize_t c
    for c in range(d):
        a = A[i, c]
        b = B[j, c]
        if kind[c] == 1:
            if a != a or b != b:
                if a != a and b != b:
                    acc += 1.0
                else:
                    return 1e300
            else:
                t = (a - b) * inv_range[c]
                acc += t if t >= 0 else -t
        elif kind[c] == 2:
            acc += tables[offsets[c] + <long long> a * ncells[c] + <long long> b]
        elif a != b:
            acc += 1.0
    return acc


cdef inline unsigned long long _mix(unsigned long long z) noexcept nogil:
    """splitmix64's finalizer: a well-mixed 64-bit hash (tie-breaking only, nothing secret)."""
    z += 0x9E3779B97F4A7C15ULL
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL
    return z ^ (z >> 31)


def mixed_kneighbors(const double[:, ::1] data, const double[:, ::1] queries, const double[::1] inv_range,
                     const unsigned char[::1] kind, const double[::1] tables, const long long[::1] offsets,
                     const long long[::1] ncells, unsigned long long seed, Py_ssize_t k):
    """Indices and distances (queries x k, nearest first) of the k rows of ``data`` nearest
    each query row. Equal distances are ordered by a key hashed from (seed, query, row): an
    independent random order for every query, so targets tied with the same rows do not all
    pick the same one."""
    cdef Py_ssize_t n = data.shape[0], m = queries.shape[0], d = data.shape[1], q, j, s, i, child, c2
    if k > n:
        k = n
    out_arr = np.empty((m, k), dtype=np.int64)
    dist_arr = np.empty((m, k), dtype=np.float64)
    cdef long long[:, ::1] out = out_arr
    cdef double[:, ::1] dist = dist_arr
    cdef double dd, tk, td, tt
    cdef long long tp
    cdef unsigned long long qkey
    # per query, a max-heap on (distance, tiebreak) held in the out/dist/key rows
    key_arr = np.empty((m, k), dtype=np.float64)
    cdef double[:, ::1] key = key_arr
    cdef Py_ssize_t size
    for q in prange(m, nogil=True, schedule="dynamic"):
        size = 0
        qkey = _mix(seed ^ _mix(<unsigned long long> q))
        for j in range(n):
            dd = _mixed(queries, q, data, j, inv_range, kind, tables, offsets, ncells, d)
            tk = <double> (_mix(qkey ^ <unsigned long long> j) >> 11) * 1.1102230246251565e-16
            if size < k:
                i = size
                size = size + 1
                dist[q, i] = dd
                key[q, i] = tk
                out[q, i] = j
                while i > 0:
                    s = (i - 1) // 2
                    if dist[q, s] > dist[q, i] or (dist[q, s] == dist[q, i] and key[q, s] >= key[q, i]):
                        break
                    td = dist[q, s]; dist[q, s] = dist[q, i]; dist[q, i] = td
                    tt = key[q, s]; key[q, s] = key[q, i]; key[q, i] = tt
                    tp = out[q, s]; out[q, s] = out[q, i]; out[q, i] = tp
                    i = s
            elif dd < dist[q, 0] or (dd == dist[q, 0] and tk < key[q, 0]):
                dist[q, 0] = dd
                key[q, 0] = tk
                out[q, 0] = j
                i = 0
                while True:
                    child = 2 * i + 1
                    if child >= k:
                        break
                    c2 = child + 1
                    if c2 < k and (dist[q, c2] > dist[q, child] or
                                   (dist[q, c2] == dist[q, child] and key[q, c2] > key[q, child])):
                        child = c2
                    if dist[q, i] > dist[q, child] or (dist[q, i] == dist[q, child] and key[q, i] >= key[q, child]):
                        break
                    td = dist[q, child]; dist[q, child] = dist[q, i]; dist[q, i] = td
                    tt = key[q, child]; key[q, child] = key[q, i]; key[q, i] = tt
                    tp = out[q, child]; out[q, child] = out[q, i]; out[q, i] = tp
                    i = child
    # heaps -> ascending order (distance, tiebreak)
    order = np.lexsort((key_arr, dist_arr), axis=1)
    return np.take_along_axis(out_arr, order, axis=1), np.take_along_axis(dist_arr, order, axis=1)


def count_matches(const double[:, ::1] data, const long long[:, ::1] cols, const signed char[:, ::1] ops,
                  const double[:, ::1] vals, long long cap):
    """Rows of ``data`` matching each predicate (a conjunction of up to C conditions: column
    cols[p, c] (-1 = unused), op 0 '==', 1 '<=', 2 '>=', value vals[p, c]); counting stops at
    ``cap`` (so cap=2 answers 0, 1 or 'two or more' quickly)."""
    cdef Py_ssize_t n = data.shape[0], P = cols.shape[0], C = cols.shape[1], p, j, c
    cdef long long cnt
    cdef bint ok
    cdef double x, v
    counts_arr = np.zeros(P, dtype=np.int64)
    cdef long long[::1] counts = counts_arr
    for p in prange(P, nogil=True, schedule="dynamic"):
        cnt = 0
        for j in range(n):
            ok = True
            for c in range(C):
                if cols[p, c] < 0:
                    break
                x = data[j, cols[p, c]]
                v = vals[p, c]
                if ops[p, c] == 0:
                    if x != v:
                        ok = False
                        break
                elif ops[p, c] == 1:
                    if not (x <= v):
                        ok = False
                        break
                else:
                    if not (x >= v):
                        ok = False
                        break
            if ok:
                cnt = cnt + 1
                if cnt >= cap:
                    break
        counts[p] = cnt
    return counts_arr


def mixed_nearest(const double[:, ::1] data, const double[:, ::1] queries, const double[::1] inv_range,
                  const unsigned char[::1] kind, const double[::1] tables, const long long[::1] offsets,
                  const long long[::1] ncells):
    """Per query row: the mixed-type distance to its nearest row of ``data`` and how many rows
    of ``data`` lie at that distance (equal within 1e-9, relative), for tie-aware comparisons."""
    cdef Py_ssize_t n = data.shape[0], m = queries.shape[0], d = data.shape[1], q, j
    best_arr = np.full(m, np.inf, dtype=np.float64)
    count_arr = np.zeros(m, dtype=np.int64)
    cdef double[::1] best = best_arr
    cdef long long[::1] count = count_arr
    cdef double dd, b, tol
    cdef long long c
    for q in prange(m, nogil=True, schedule="dynamic"):
        b = 1e308
        c = 0
        for j in range(n):
            dd = _mixed(queries, q, data, j, inv_range, kind, tables, offsets, ncells, d)
            tol = 1e-9 * (b if b > 1.0 else 1.0)
            if dd < b - tol:
                b = dd
                c = 1
            elif dd <= b + tol:
                c = c + 1
        best[q] = b
        count[q] = c
    return best_arr, count_arr
