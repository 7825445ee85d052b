"""The GPU twin of the DCF kernel (``secured/_kernels/fss.cu``): its per-element walk compiled
for the CPU against the compiled CPU kernels on random keys (every run), the CUDA source
compiled with nvcc where it is installed, the kernel on a GPU where one is lent."""

from __future__ import annotations

import ctypes
import shutil
import subprocess

import numpy as np
import pytest

from secured.backend import fss_kernels as F
from secured.backend._cupy import cuda_source_path

from ..conftest import GPU, NVCC

GXX = shutil.which("g++") or shutil.which("c++")


def _random_keys(rng, n, m):
    top = 2**n if n < 64 else 2**64
    alpha = rng.integers(0, top, m, dtype=np.uint64, endpoint=False)
    seeds = rng.integers(0, 2**64, (2, m, 2), dtype=np.uint64, endpoint=False)
    x = rng.integers(0, top, m, dtype=np.uint64, endpoint=False)
    x[: m // 10] = alpha[: m // 10]                                       # x = alpha, and its neighbours
    x[m // 10: m // 5] = alpha[m // 10: m // 5] - np.uint64(1)
    x[m // 5: m // 4] = alpha[m // 5: m // 4] + np.uint64(1)
    if n < 64:
        x &= np.uint64(top - 1)
    return alpha, seeds, x, F.dcf_gen(n, alpha, seeds[0], seeds[1])


@pytest.mark.skipif(GXX is None, reason="no C++ compiler")
def test_the_gpu_walk_compiled_for_the_cpu_equals_the_cpu_kernels(tmp_path):
    lib_path = tmp_path / "fss_host.so"
    built = subprocess.run([GXX, "-O2", "-shared", "-fPIC", "-x", "c++", "-DSECURED_HOST_TEST",
                            str(cuda_source_path("fss.cu")), "-o", str(lib_path)], capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    lib = ctypes.CDLL(str(lib_path))
    lib.dcf_eval_host.argtypes = [ctypes.c_int] * 3 + [ctypes.c_char_p, ctypes.c_longlong] + [ctypes.c_void_p] * 6
    rng = np.random.default_rng(3)
    for n in (1, 2, 7, 8, 20, 63, 64):
        m = 1500
        alpha, seeds, x, (scw, ctl, fin) = _random_keys(rng, n, m)
        shares = []
        for party in (0, 1):
            out = np.empty(m, dtype=np.uint8)
            arrays = [np.ascontiguousarray(a) for a in (seeds[party], scw, ctl, fin, x)]
            lib.dcf_eval_host(party, n, F.leaf_bits(n), F.PRG_KEY, m, *[a.ctypes.data for a in arrays],
                              out.ctypes.data)
            np.testing.assert_array_equal(out, F.dcf_eval(party, n, seeds[party], scw, ctl, fin, x), err_msg=str(n))
            shares.append(out)
        np.testing.assert_array_equal(shares[0] ^ shares[1], (x < alpha).astype(np.uint8))


@pytest.mark.skipif(NVCC is None, reason="nvcc not installed; the CUDA sources are compiled on GPU hosts")
def test_the_dcf_kernel_compiles_with_nvcc(tmp_path):
    result = subprocess.run([NVCC, "--ptx", "-arch=sm_80", "-o", str(tmp_path / "fss.ptx"),
                             str(cuda_source_path("fss.cu"))], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert ".entry dcf_eval" in (tmp_path / "fss.ptx").read_text()


@pytest.mark.gpu
@pytest.mark.skipif(not GPU, reason="no usable CUDA GPU / cupy here")
def test_the_dcf_kernel_on_a_gpu_equals_the_cpu():
    import cupy

    rng = np.random.default_rng(4)
    for n in (8, 63, 64):
        m = 200_000
        alpha, seeds, x, (scw, ctl, fin) = _random_keys(rng, n, m)
        for party in (0, 1):
            got = cupy.asnumpy(F.dcf_eval_cuda(party, n, seeds[party], scw, ctl, fin, x))
            np.testing.assert_array_equal(got, F.dcf_eval(party, n, seeds[party], scw, ctl, fin, x))
