"""The cython backend (CPU default): the same algorithms as numpy, fused into compiled passes.

Digit splitting, recombination, fixed-point coding and bit slicing run in
``secured._kernels`` with the GIL released and OpenMP threads; the float64 GEMMs go to the
BLAS numpy links against. Elementwise ring ops are numpy ufuncs, which are already single
passes.
"""

from __future__ import annotations

import os

import numpy as np

from .._kernels import bits as _bits
from .._kernels import ring as _ring
from ._numpy import NumpyBackend

__all__ = ["CythonBackend"]


def _threads() -> int:
    env = os.environ.get("SECURED_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS")
    if env and env.isdigit() and int(env) > 0:
        return int(env)
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


#: Below this many elements a pass is faster on one thread than waking a team.
_PARALLEL_MIN = 1 << 16


class CythonBackend(NumpyBackend):
    """The default CPU ring backend: the compiled kernels of ``secured/_kernels`` (GIL released,
    OpenMP) with BLAS for the limb products."""
    name = "cython"

    def __init__(self) -> None:
        self.threads = _threads()

    def _t(self, size: int) -> int:
        return self.threads if size >= _PARALLEL_MIN else 1

    def _split_a(self, a2d: np.ndarray, out: np.ndarray, kc: int) -> None:
        _ring.split_a(a2d, out, kc, self._t(a2d.size))

    def _split_b(self, b3d: np.ndarray, out: np.ndarray, kc: int) -> None:
        _ring.split_b(b3d, out, kc, self._t(b3d.size))

    def _combine(self, p0, p1, q, r, acc, accumulate: bool) -> None:
        _ring.combine(p0.reshape(-1), p1.reshape(-1), q.reshape(-1), r.reshape(-1),
                      acc.reshape(-1), accumulate, self._t(acc.size))

    def _encode(self, x: np.ndarray, f: int) -> tuple[np.ndarray, int]:
        out = np.empty(x.shape, dtype=np.uint64)
        bad = _ring.encode_fixed(x.reshape(-1), out.reshape(-1), f, self._t(x.size))
        return out, int(bad)

    def _decode(self, x: np.ndarray, f: int) -> np.ndarray:
        out = np.empty(x.shape, dtype=np.float64)
        _ring.decode_fixed(x.reshape(-1), out.reshape(-1), f, self._t(x.size))
        return out

    def _bit_decompose(self, x: np.ndarray, planes: np.ndarray) -> None:
        _bits.bit_decompose(x, planes, self._t(x.size))

    def digit_thermometers(self, x):
        planes = self.bit_decompose(x)
        out = np.empty((16, 16, planes.shape[1]), dtype=np.uint64)
        _bits.digit_thermometers(planes, out, self._t(planes.size))
        return out

    def digit_compare(self, cplanes, therm, first):
        words = cplanes.shape[1]
        lt, eq = np.empty((16, words), dtype=np.uint64), np.empty((16, words), dtype=np.uint64)
        _bits.digit_compare(np.ascontiguousarray(cplanes), np.ascontiguousarray(therm), bool(first), lt, eq,
                            self._t(cplanes.size))
        return lt, eq

    def byte_compare(self, s, therm, first):
        s, therm = np.ascontiguousarray(s, dtype=np.uint64), np.ascontiguousarray(therm, dtype=np.uint64)
        words = -(-s.size // 64)
        lt, eq = np.empty((8, words), dtype=np.uint64), np.empty((8, words), dtype=np.uint64)
        _bits.byte_compare(s, therm, bool(first), lt, eq, self._t(s.size * 8))
        return lt, eq

    def spline_pick(self, onehot, dtab, u, pieces, wrap):
        out = np.empty(onehot.shape[0], dtype=np.uint64)
        _ring.spline_pick(np.ascontiguousarray(onehot, dtype=np.uint64), np.ascontiguousarray(dtab, dtype=np.uint64),
                          np.ascontiguousarray(u, dtype=np.int64), np.ascontiguousarray(pieces, dtype=np.uint64),
                          np.ascontiguousarray(wrap, dtype=np.uint64), out, self._t(onehot.size))
        return out

    def _bit_compose(self, planes: np.ndarray, out: np.ndarray) -> None:
        _bits.bit_compose(planes, out, self._t(out.size))
