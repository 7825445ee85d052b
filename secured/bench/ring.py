"""Ring-core benchmark: exact Z_2^64 matmul and PRG throughput, against baselines in one run.

For each n it times numpy's uint64 ``@`` (exact but unblocked; skipped above n=2048 where it
takes minutes), float64 ``@`` on the backend's device (BLAS or cuBLAS: the speed limit, not
exact over the ring) and the selected backend's limb-split GEMM, checks the backend's result
bit for bit (against numpy uint64, or against the cython backend at large n), and prints the
ratios. Then it times the ChaCha20 PRG. ``benchmarks/bench_ring.py`` and ``secured bench
ring`` both run this.
"""

from __future__ import annotations

import platform
from dataclasses import asdict, dataclass

import numpy as np

from ..backend import get_backend, new_key
from ._timing import best_time

__all__ = ["RingRow", "run_matmul", "run_prg", "main"]


#: numpy's uint64 matmul is unblocked (~7 s at n=1024 on 2 cores): not run above this size.
NUMPY_UINT64_MAX_N = 2048


@dataclass(frozen=True)
class RingRow:
    """One row of the ring benchmark table."""
    n: int
    numpy_uint64_s: float | None
    blas_float64_s: float
    ours_s: float
    backend: str
    exact: bool

    @property
    def vs_blas(self) -> float:
        return self.ours_s / self.blas_float64_s

    @property
    def speedup_vs_numpy(self) -> float | None:
        return None if self.numpy_uint64_s is None else self.numpy_uint64_s / self.ours_s


def run_matmul(sizes: list[int], repeat: int = 3, backend: str | None = None) -> list[RingRow]:
    be = get_backend(name=backend)
    xp = be.xp
    rng = np.random.default_rng(2024)  # benchmark inputs only; nothing secret here
    rows = []

    def timed(fn, **kw):
        return best_time(lambda: (fn(), be.synchronize()), **kw)

    for n in sizes:
        a = rng.integers(0, 2**64, (n, n), dtype=np.uint64, endpoint=False)
        b = rng.integers(0, 2**64, (n, n), dtype=np.uint64, endpoint=False)
        xa, xb = be.asarray(a), be.asarray(b)
        fa, fb = xa.astype(xp.float64), xb.astype(xp.float64)
        t_blas = timed(lambda: fa @ fb, repeat=repeat)
        t_ours = timed(lambda: be.matmul(xa, xb), repeat=repeat)
        ours = be.to_numpy(be.matmul(xa, xb))
        if n <= NUMPY_UINT64_MAX_N:
            # Time it once, without warm-up: seconds per call at n=1024.
            t_np = best_time(lambda: a @ b, repeat=1 if n >= 512 else repeat, warmup=0)
            ref = a @ b
        else:
            t_np, ref = None, get_backend(name="cython" if be.name == "cupy" else "numpy").matmul(a, b)
        rows.append(RingRow(n, t_np, t_blas, t_ours, be.name, bool(np.array_equal(ours, ref))))
    return rows


def run_prg(n_bytes: int = 1 << 28, repeat: int = 3, backend: str | None = None) -> float:
    """PRG throughput in GB/s (10^9 bytes per second) for one stream of ``n_bytes``."""
    be = get_backend(name=backend)
    key = new_key()
    seconds = best_time(lambda: (be.prg(key, 7, n_bytes // 8), be.synchronize()), repeat=repeat)
    return n_bytes / seconds / 1e9


def main(sizes: list[int] | None = None, repeat: int = 3, backend: str | None = None,
         prg_mib: int = 256, as_json: bool = False) -> int:
    """Print the table; returns a process exit code (1 if any product was not exact)."""
    import json

    from rich.console import Console
    from rich.table import Table

    sizes = sizes or [256, 512, 1024]
    console = Console()
    rows = run_matmul(sizes, repeat=repeat, backend=backend)
    gbps = run_prg(prg_mib << 20, repeat=repeat, backend=backend)
    if as_json:
        print(json.dumps({"matmul": [asdict(r) | {"vs_blas": r.vs_blas, "speedup_vs_numpy": r.speedup_vs_numpy} for r in rows],
                          "prg_gb_per_s": gbps, "machine": platform.machine()}, indent=2))
    else:
        table = Table(title=f"Exact Z_2^64 matmul, n x n ({rows[0].backend} backend, best of {repeat})")
        for col in ("n", "numpy uint64 @ (s)", f"float64 @ on {rows[0].backend} (s)", "ours (s)",
                    "ours / BLAS", "numpy uint64 / ours", "bit-exact"):
            table.add_column(col, justify="right")
        for r in rows:
            slow = "n/a" if r.numpy_uint64_s is None else f"{r.numpy_uint64_s:.4f}"
            speedup = "n/a" if r.speedup_vs_numpy is None else f"{r.speedup_vs_numpy:.1f}x"
            table.add_row(str(r.n), slow, f"{r.blas_float64_s:.4f}", f"{r.ours_s:.4f}",
                          f"{r.vs_blas:.2f}x", speedup, "yes" if r.exact else "NO")
        console.print(table)
        console.print(f"PRG (ChaCha20, {prg_mib} MiB stream): {gbps:.2f} GB/s")
        console.print("Targets at n=1024: ours / BLAS <= 6x, numpy uint64 / ours >= 15x; PRG >= 1 GB/s.")
    return 0 if all(r.exact for r in rows) else 1
