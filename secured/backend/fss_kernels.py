"""The seam to the compiled function-secret-sharing kernels (DESIGN.md: only ``secured.backend``
imports ``secured._kernels``).

- ``dcf_gen(n, alpha, seeds0, seeds1)``: the shared corrections of distributed comparison
  function keys for ``1{x < alpha}`` on n-bit inputs (one key pair per element): a tree of
  n - nu levels (``leaf_bits(n)`` = nu = min(7, n) bits are read from a 128-bit leaf block).
- ``dcf_eval(party, n, seeds, scw, ctl, fin, x)``: a party's XOR shares of ``1{x < alpha}``.
- ``dcf_eval_cuda(...)``: the same on a GPU (cupy arrays in and out), the kernel of
  ``secured/_kernels/fss.cu`` (one thread per element, AES from an S-box built in shared
  memory); its per-element walk is also compiled for the CPU by the tests and compared with
  the kernels here.

The PRG of the tree is fixed-key AES-128 (Matyas-Meyer-Oseas); the public key is derived from
a fixed label with SHA-256 (it is not a secret: the seeds are). The compiled kernels run
AES-NI (16 elements at a time on VAES where the CPU has it, ``vaes``);
``secured.backend._fss_numpy`` (``reference``) computes the same bits with OpenSSL's AES
and stands in, with a warning, where the kernels are not built or the CPU lacks AES-NI.
"""

from __future__ import annotations

import hashlib
import os
import warnings

from typing import Any

import numpy as np

from . import _fss_numpy as reference
from ..exceptions import ConfigurationError

__all__ = ["dcf_gen", "dcf_eval", "dcf_eval_cuda", "leaf_bits", "compiled", "vaes", "reference", "PRG_KEY"]

PRG_KEY = hashlib.sha256(b"secured fss dcf prg").digest()[:16]

try:
    from .._kernels import fss as _core
except ImportError:
    _core = None
if _core is None or not _core.AESNI:
    if _core is not None or os.environ.get("SECURED_FSS_QUIET") is None:
        warnings.warn("The compiled FSS kernels (AES-NI) are not available here; the numpy twin evaluates "
                      "DCF keys meanwhile (slower).", RuntimeWarning, stacklevel=2)
    _core = reference
    compiled = False
else:
    compiled = True
vaes = bool(compiled and _core.VAES)
_core.setup_key(PRG_KEY)
reference.setup_key(PRG_KEY)


def _threads(threads: int | None) -> int:
    if threads is not None:
        return max(1, int(threads))
    return max(1, int(os.environ.get("SECURED_NUM_THREADS", os.cpu_count() or 1)))


def _check_bits(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n <= 64:
        raise ConfigurationError("A DCF domain has 1 to 64 bits.")
    return int(n)


def leaf_bits(n: int) -> int:
    """Input bits read from the leaf block instead of walking the tree (early termination)."""
    return min(7, n)


def dcf_gen(n: int, alpha: np.ndarray, seeds0: np.ndarray, seeds1: np.ndarray, *, threads: int | None = None,
            impl=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(scw (m, L, 2) uint64, ctl (m, L) uint8, fin (m, 2) uint64) for alpha (m,) uint64 < 2^n,
    with L = n - leaf_bits(n) tree levels."""
    n = _check_bits(n)
    nu = leaf_bits(n)
    alpha = np.ascontiguousarray(alpha, dtype=np.uint64).reshape(-1)
    m = alpha.shape[0]
    scw = np.zeros((m, n - nu, 2), dtype=np.uint64)
    ctl = np.zeros((m, n - nu), dtype=np.uint8)
    fin = np.empty((m, 2), dtype=np.uint64)
    (impl or _core).dcf_gen(n, nu, alpha, np.ascontiguousarray(seeds0, dtype=np.uint64),
                            np.ascontiguousarray(seeds1, dtype=np.uint64), scw, ctl, fin, _threads(threads))
    return scw, ctl, fin


def dcf_eval(party: int, n: int, seeds: np.ndarray, scw: np.ndarray, ctl: np.ndarray, fin: np.ndarray,
             x: np.ndarray, *, threads: int | None = None, impl=None, wide: bool = True) -> np.ndarray:
    """Party ``party``'s XOR shares (uint8) of 1{x < alpha} for public x (m,) uint64 < 2^n.
    ``wide=False`` keeps the compiled kernel on its 128-bit AES-NI path where the CPU also has
    VAES (the two paths compute the same bits; the tests compare them)."""
    n = _check_bits(n)
    x = np.ascontiguousarray(x, dtype=np.uint64).reshape(-1)
    out = np.empty(x.shape[0], dtype=np.uint8)
    (impl or _core).dcf_eval(int(party), n, leaf_bits(n), np.ascontiguousarray(seeds, dtype=np.uint64),
                             np.ascontiguousarray(scw, dtype=np.uint64), np.ascontiguousarray(ctl, dtype=np.uint8),
                             np.ascontiguousarray(fin, dtype=np.uint64), x, out, _threads(threads), bool(wide))
    return out


_CUDA: dict = {}


def dcf_eval_cuda(party: int, n: int, seeds: Any, scw: Any, ctl: Any, fin: Any, x: Any, *,
                  block: int = 256) -> Any:
    """``dcf_eval`` on a GPU: the kernel ``dcf_eval`` of ``secured/_kernels/fss.cu`` (compiled by
    NVRTC through ``cupy.RawModule`` on first use); arrays may be numpy or cupy, the result
    (uint8 XOR shares) is a cupy array."""
    from ._cupy import _import_cupy, cuda_source_path

    cp = _import_cupy()
    n = _check_bits(n)
    nu = leaf_bits(n)
    if "kernel" not in _CUDA:
        module = cp.RawModule(code=cuda_source_path("fss.cu").read_text(), options=("--std=c++14",))
        _CUDA["kernel"] = module.get_function("dcf_eval")
        _CUDA["key"] = cp.asarray(np.frombuffer(PRG_KEY, dtype=np.uint8))
    x = cp.ascontiguousarray(cp.asarray(x, dtype=cp.uint64).reshape(-1))
    m = int(x.shape[0])
    arrays = [cp.ascontiguousarray(cp.asarray(a, dtype=t)) for a, t in
              ((seeds, cp.uint64), (scw, cp.uint64), (ctl, cp.uint8), (fin, cp.uint64))]
    if arrays[0].shape != (m, 2) or arrays[1].shape != (m, n - nu, 2) or arrays[2].shape != (m, n - nu):
        raise ConfigurationError(f"DCF keys for {m} elements of {n} bits have seeds (m, 2), scw (m, {n - nu}, 2) "
                                 f"and ctl (m, {n - nu}).")
    out = cp.empty(m, dtype=cp.uint8)
    if m:
        grid = min(-(-m // block), 65535)
        _CUDA["kernel"]((grid,), (block,), (np.int32(party), np.int32(n), np.int32(nu), _CUDA["key"], np.int64(m),
                                             *arrays, x, out))
    return out
