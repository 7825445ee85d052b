"""Pure-numpy twins of the privacy module's compiled loops (``secured/_kernels/_privacy.pyx``).

They compute the same results as the compiled core (the tie-breaking hash included, so
nearest neighbours come out in the same order), much more slowly; the compiled core is tested
against them, and ``secured.backend.privacy_kernels`` falls back to them when the core is not
built.
"""

from __future__ import annotations

import numpy as np

__all__ = ["mdav_groups", "mixed_distances", "mixed_kneighbors", "mixed_nearest", "count_matches"]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


def _mix(z: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer on uint64 arrays (wrapping arithmetic), as in the compiled core."""
    with np.errstate(over="ignore"):
        z = np.asarray(z, dtype=np.uint64) + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
        return z ^ (z >> np.uint64(31))


def mixed_distances(data: np.ndarray, queries: np.ndarray, inv_range: np.ndarray, kind: np.ndarray,
                    tables: np.ndarray, offsets: np.ndarray, ncells: np.ndarray) -> np.ndarray:
    """(queries x data) mixed-type distances: kind 0 categorical codes (0/1), kind 1 numeric
    |a - b| / range (both NaN: 1; one NaN: 1e300), kind 2 a cost table (query code, data code)."""
    out = np.zeros((len(queries), len(data)))
    far = np.zeros((len(queries), len(data)), dtype=bool)
    for c in range(data.shape[1]):
        a, b = queries[:, c][:, None], data[:, c][None, :]
        if kind[c] == 1:
            na, nb = np.isnan(a), np.isnan(b)
            with np.errstate(invalid="ignore"):
                term = np.abs(a - b) * inv_range[c]
            term = np.where(na & nb, 1.0, term)
            far |= na ^ nb
            out += np.where(na | nb, np.where(na & nb, 1.0, 0.0), term)
        elif kind[c] == 2:
            out += tables[offsets[c] + a.astype(np.int64) * ncells[c] + b.astype(np.int64)]
        else:
            out += (a != b)
    out[far] = 1e300
    return out


def mixed_kneighbors(data, queries, inv_range, kind, tables, offsets, ncells, seed: int, k: int):
    """Indices and distances (queries x k) of the k nearest data rows, ties ordered by the
    key hashed from (seed, query, row)."""
    n, m = len(data), len(queries)
    k = min(int(k), n)
    idx = np.empty((m, k), dtype=np.int64)
    dist = np.empty((m, k))
    rows = np.arange(n, dtype=np.uint64)
    for start in range(0, m, 256):
        d = mixed_distances(data, queries[start:start + 256], inv_range, kind, tables, offsets, ncells)
        for i in range(len(d)):
            q = np.uint64(start + i)
            qkey = _mix(np.uint64(seed) ^ _mix(q))
            key = (_mix(qkey ^ rows) >> np.uint64(11)).astype(np.float64) * 1.1102230246251565e-16
            order = np.lexsort((key, d[i]))[:k]
            idx[start + i], dist[start + i] = order, d[i][order]
    return idx, dist


def mixed_nearest(data, queries, inv_range, kind, tables, offsets, ncells):
    """Per query: distance to the nearest data row and how many rows lie at it (1e-9 relative)."""
    best = np.empty(len(queries))
    count = np.empty(len(queries), dtype=np.int64)
    for start in range(0, len(queries), 256):
        d = mixed_distances(data, queries[start:start + 256], inv_range, kind, tables, offsets, ncells)
        b = d.min(axis=1) if d.shape[1] else np.full(len(d), 1e308)
        tol = 1e-9 * np.maximum(b, 1.0)
        best[start:start + len(d)] = b
        count[start:start + len(d)] = (d <= (b + tol)[:, None]).sum(axis=1)
    return best, count


def count_matches(data, cols, ops, vals, cap: int) -> np.ndarray:
    """Rows matching each conjunctive predicate (column -1 ends it; op 0 ==, 1 <=, 2 >=), capped."""
    out = np.zeros(len(cols), dtype=np.int64)
    for p in range(len(cols)):
        mask = np.ones(len(data), dtype=bool)
        for c in range(cols.shape[1]):
            j = cols[p, c]
            if j < 0:
                break
            x, v = data[:, j], vals[p, c]
            mask &= (x == v) if ops[p, c] == 0 else (x <= v) if ops[p, c] == 1 else (x >= v)
        out[p] = min(int(mask.sum()), int(cap))
    return out


def mdav_groups(X: np.ndarray, k: int) -> np.ndarray:
    """MDAV group label per row of a standardized matrix (see ``secured.privacy.mdav``)."""
    n = len(X)
    group = np.full(n, -1, dtype=np.int64)
    remaining = np.arange(n)
    Xr = X
    g = 0

    def take(center: np.ndarray) -> None:
        nonlocal remaining, Xr, g
        d = ((Xr - center) ** 2).sum(axis=1)
        nearest = np.argpartition(d, k - 1)[:k] if len(d) > k else np.arange(len(d))
        group[remaining[nearest]] = g
        g += 1
        keep = np.ones(len(remaining), dtype=bool)
        keep[nearest] = False
        remaining, Xr = remaining[keep], Xr[keep]

    while len(remaining) >= 3 * k:
        c = Xr.mean(axis=0)
        r = Xr[((Xr - c) ** 2).sum(axis=1).argmax()].copy()
        s = Xr[((Xr - r) ** 2).sum(axis=1).argmax()].copy()
        take(r)
        take(s)
    if len(remaining) >= 2 * k:
        c = Xr.mean(axis=0)
        take(Xr[((Xr - c) ** 2).sum(axis=1).argmax()].copy())
    if len(remaining):
        group[remaining] = g
    return group
