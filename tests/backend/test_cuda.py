"""CUDA kernels: compiled with nvcc when it is installed, run against the CPU backends when a
GPU is usable (the bit-exactness tests of the other modules also run on cupy then)."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from secured.backend import get_backend, new_key
from secured.backend._cupy import cuda_source_path

from ..conftest import GPU, NVCC


@pytest.mark.skipif(NVCC is None, reason="nvcc not installed; the CUDA sources are compiled on GPU hosts")
def test_cuda_sources_compile_with_nvcc(tmp_path):
    src = cuda_source_path("ring.cu")
    result = subprocess.run([NVCC, "--ptx", "-arch=sm_80", "-o", str(tmp_path / "ring.ptx"), str(src)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    ptx = (tmp_path / "ring.ptx").read_text()
    for kernel in ("split_a", "split_b", "combine", "encode_fixed", "decode_fixed",
                   "chacha20_words", "bit_decompose", "bit_compose"):
        assert f".entry {kernel}" in ptx


def test_cuda_source_is_found():
    assert cuda_source_path("ring.cu").read_text().count("__global__") == 8


@pytest.mark.gpu
@pytest.mark.skipif(not GPU, reason="no usable CUDA GPU / cupy here")
def test_gpu_matches_cpu_at_scale():
    gpu, cpu = get_backend(name="cupy"), get_backend(name="cython")
    rng = np.random.default_rng(0)
    a = rng.integers(0, 2**64, (3, 300, 2500), dtype=np.uint64, endpoint=False)
    b = rng.integers(0, 2**64, (3, 2500, 200), dtype=np.uint64, endpoint=False)
    np.testing.assert_array_equal(gpu.to_numpy(gpu.matmul(a, b)), cpu.matmul(a, b))
    key = new_key()
    np.testing.assert_array_equal(gpu.to_numpy(gpu.prg(key, 3, 1 << 20, offset=5)),
                                  cpu.prg(key, 3, 1 << 20, offset=5))
    x = rng.normal(scale=1e4, size=100_000)
    np.testing.assert_array_equal(gpu.to_numpy(gpu.encode(x)), cpu.encode(x))
    w = rng.integers(0, 2**64, 100_001, dtype=np.uint64, endpoint=False)
    np.testing.assert_array_equal(gpu.to_numpy(gpu.bit_decompose(w)), cpu.bit_decompose(w))
