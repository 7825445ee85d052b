"""The cupy backend: the ring core on an NVIDIA GPU.

The float64 GEMMs go to cuBLAS through ``cupy.matmul`` (exact for the same reason as on the
CPU: every partial sum is an integer below 2^53); digit splitting, recombination, fixed-point
coding, ChaCha20 and bit slicing are the kernels of ``secured/_kernels/ring.cu``, compiled by NVRTC
through ``cupy.RawModule`` the first time this backend is used. cupy is imported lazily:
nothing here runs unless a caller asks for the cupy backend or passes cupy arrays.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..exceptions import BackendUnavailableError
from ._base import RingBackend
from ._prg import check_prg_args

__all__ = ["CupyBackend", "cuda_source_path"]

_THREADS = 256


def cuda_source_path(name: str = "ring.cu") -> Path:
    """Path of a CUDA source: they live beside the Cython kernels they mirror, in
    ``secured/_kernels/`` (read as files, so an unbuilt checkout finds them too)."""
    path = Path(__file__).resolve().parents[1] / "_kernels" / name
    if path.is_file():
        return path
    raise BackendUnavailableError(
        f"The CUDA source {name} is missing from secured/_kernels; reinstall with `pip install -e .`.")


def _import_cupy() -> Any:
    try:
        import cupy
    except ImportError as exc:
        raise BackendUnavailableError(
            "The cupy backend needs cupy; install the GPU extra: `pip install -e .[gpu]` "
            f"(found: {type(exc).__name__}: {exc})."
        ) from exc
    try:
        usable = bool(cupy.cuda.is_available())
        if usable:
            (cupy.arange(4, dtype=cupy.uint64) * 3).sum().item()
    except Exception as exc:  # any CUDA driver/runtime failure means "no usable GPU"
        raise BackendUnavailableError(
            f"cupy is installed but no CUDA GPU is usable here ({type(exc).__name__}: {exc})."
        ) from exc
    if not usable:
        raise BackendUnavailableError(
            "cupy is installed but reports no CUDA device; use SECURED_BACKEND=cython on a CPU."
        )
    return cupy


class CupyBackend(RingBackend):
    """The ring backend on a GPU: cuBLAS for the float64 limb products, the NVRTC-compiled kernels
    of ``secured/_kernels/ring.cu`` for the rest; bit-identical to the others."""
    name = "cupy"

    def __init__(self) -> None:
        self.xp = cp = _import_cupy()
        module = cp.RawModule(code=cuda_source_path().read_text(), options=("--std=c++14",))
        self._k = {
            name: module.get_function(name)
            for name in ("split_a", "split_b", "combine", "encode_fixed", "decode_fixed",
                         "chacha20_words", "bit_decompose", "bit_compose")
        }

    def asarray(self, x: Any) -> Any:
        if isinstance(x, np.ndarray) and x.dtype == np.uint64:
            return self.xp.asarray(x)
        return super().asarray(x)

    def to_numpy(self, x: Any) -> np.ndarray:
        return self.xp.asnumpy(x)

    def synchronize(self) -> None:
        self.xp.cuda.Device().synchronize()

    def _launch(self, name: str, n: int, args: tuple) -> None:
        blocks = max(1, min(-(-n // _THREADS), 65535 * 4))
        self._k[name]((blocks,), (_THREADS,), args)

    def _split_a(self, a2d, out, kc: int) -> None:
        rows, k = a2d.shape
        nch = out.shape[1] // (4 * kc)
        self._launch("split_a", rows * k, (a2d, out, np.int64(rows), np.int64(k), np.int64(kc), np.int64(nch)))

    def _split_b(self, b3d, out, kc: int) -> None:
        batch, k, n = b3d.shape
        nch = out.shape[1] // (4 * kc * n)
        self._launch("split_b", batch * k * n,
                     (b3d, out, np.int64(batch), np.int64(k), np.int64(n), np.int64(kc), np.int64(nch)))

    def _combine(self, p0, p1, q, r, acc, accumulate: bool) -> None:
        self._launch("combine", acc.size, (p0, p1, q, r, acc, np.int64(acc.size), np.int32(accumulate)))

    def _encode(self, x, f: int):
        out = self.xp.empty(x.shape, dtype=self.xp.uint64)
        bad = self.xp.zeros(1, dtype=self.xp.uint64)
        self._launch("encode_fixed", x.size, (x, out, np.int64(x.size), np.int32(f), bad))
        return out, int(bad.get()[0])

    def _decode(self, x, f: int):
        out = self.xp.empty(x.shape, dtype=self.xp.float64)
        self._launch("decode_fixed", x.size, (x, out, np.int64(x.size), np.int32(f)))
        return out

    def prg(self, key: bytes, counter: int, shape: tuple[int, ...] | int, offset: int = 0):
        shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
        n = int(np.prod(shape, dtype=np.int64))
        check_prg_args(key, counter, n, offset)
        cp = self.xp
        key_words = cp.asarray(np.frombuffer(bytes(key), dtype="<u4").astype(np.uint32))
        nonce = cp.asarray(np.frombuffer(int(counter).to_bytes(12, "little"), dtype="<u4").astype(np.uint32))
        out = cp.empty(n, dtype=cp.uint64)
        skip = offset % 8
        nblocks = -(-(n + skip) // 8)
        if n:
            self._launch("chacha20_words", nblocks,
                         (key_words, nonce, np.uint32(offset // 8), out, np.int64(n), np.int64(skip)))
        return out.reshape(shape)

    def _bit_decompose(self, x, planes) -> None:
        words = planes.shape[1]
        self._launch("bit_decompose", words, (x, planes, np.int64(x.size), np.int64(words)))

    def _bit_compose(self, planes, out) -> None:
        nplanes, words = planes.shape
        self._launch("bit_compose", words, (planes, out, np.int64(out.size), np.int64(words), np.int64(nplanes)))

    def pack_bits(self, bits):
        # cupy's packbits has no bitorder argument: pack on the host side of the API contract
        # by weighting bits, which is exact and stays on the device.
        cp = self.xp
        bits = cp.asarray(bits)
        n = bits.shape[-1]
        words = -(-n // 64)
        padded = cp.zeros((*bits.shape[:-1], words * 64), dtype=cp.uint64)
        padded[..., :n] = bits != 0
        weights = cp.left_shift(cp.uint64(1), cp.arange(64, dtype=cp.uint64))
        return (padded.reshape(*bits.shape[:-1], words, 64) * weights).sum(axis=-1, dtype=cp.uint64)

    def unpack_bits(self, words, n: int):
        cp = self.xp
        words = self.asarray(words)
        shifts = cp.arange(64, dtype=cp.uint64)
        bits = (words[..., None] >> shifts) & cp.uint64(1)
        return bits.reshape(*words.shape[:-1], -1)[..., :n].astype(bool)


