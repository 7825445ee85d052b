"""The masked comparison's and masked spline's local kernels: compiled (cython backend) against
the array code of the base backend (numpy), same inputs, same run; the outputs are compared too.

    python benchmarks/bench_compare_kernels.py [--log2 18] [--repeat 5]

Kernels: the dealer's 4-bit digit thermometers of its masks, a party's per-digit comparisons of
the opened x^ against them (the masked sign), the byte comparisons of the masked spline (97
public words per element against the mask's byte thermometers), and the spline's pick of the
masked piece (256-entry tables per element).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from secured.backend import get_backend
from secured.mpc._protocols import byte_thermometers


def _best(fn, repeat: int) -> tuple[float, object]:
    out, best = fn(), float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def _same(a, b) -> bool:
    pairs = zip(a, b) if isinstance(a, tuple) else [(a, b)]
    return all(np.array_equal(x, y) for x, y in pairs)


def main(log2: int = 18, repeat: int = 5) -> None:
    rng = np.random.default_rng(0)
    draw = lambda *shape: rng.integers(0, 2**64, shape, dtype=np.uint64, endpoint=False)  # noqa: E731
    compiled, array = get_backend(name="cython"), get_backend(name="numpy")
    e = 1 << log2
    r, c = draw(e), draw(e)
    therm = array.digit_thermometers(r)
    cplanes = array.bit_decompose(c)
    spline_e = max(e >> 4, 64)
    words, codes = draw(spline_e, 97), byte_thermometers(np, draw(spline_e))
    onehot, dtab, pieces, wrap = draw(spline_e, 256), draw(spline_e, 256), draw(spline_e, 128), draw(128)
    u = rng.integers(0, 256, spline_e).astype(np.int64)
    cases = [
        (f"digit thermometers, {e:,} masks", lambda be: lambda: be.digit_thermometers(r)),
        (f"digit comparisons, {e:,} values", lambda be: lambda: be.digit_compare(cplanes, therm, True)),
        (f"byte comparisons, {spline_e:,} x 97 words", lambda be: lambda: be.byte_compare(words, codes, True)),
        (f"spline pick, {spline_e:,} x 256", lambda be: lambda: be.spline_pick(onehot, dtab, u, pieces, wrap)),
    ]
    print(f"{'kernel':<40} {'array code':>11} {'compiled':>10} {'ratio':>7}  same output")
    for name, make in cases:
        slow, a = _best(make(array), repeat)
        fast, b = _best(make(compiled), repeat)
        print(f"{name:<40} {slow:>10.4f}s {fast:>9.4f}s {slow / fast:>6.1f}x  {_same(a, b)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log2", type=int, default=18)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    main(args.log2, args.repeat)
