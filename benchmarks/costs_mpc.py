"""Rounds and bytes sent per party for every SMPC op, read from the communicators' counters.

    python benchmarks/costs_mpc.py            # prints the markdown table of the README

The README's table between the ``costs`` markers is this script's output; a test checks
that they agree, so the documented costs cannot drift from what the protocols do.
"""

from __future__ import annotations

import numpy as np

from secured.mpc import Session

N = 4096  # elements (a multiple of 64, so bit-sliced ops have no padding)
M, K, P = 32, 64, 16  # matmul (M x K) @ (K x P)

OPS = [
    ("x + y, x - y, -x", lambda x, y: x + y),
    ("x + c, x * k (public int)", lambda x, y: (x + 1.5) * 3),
    ("x * c (public real)", lambda x, y: x * 0.5),
    ("x * y", lambda x, y: x * y),
    ("x * x (square)", lambda x, y: x.square()),
    ("x < y, x > y, sign", lambda x, y: x < y),
    ("x == y", lambda x, y: x == y),
    ("relu", lambda x, y: x.relu()),
    ("exp", lambda x, y: x.exp()),
    ("reciprocal, x / y", lambda x, y: x.reciprocal()),
    ("sqrt", lambda x, y: x.sqrt()),
    ("rsqrt", lambda x, y: x.rsqrt()),
    ("reciprocal, rsqrt by table (on [1/16, 64])", lambda x, y: x.reciprocal(method="table")),
    ("log", lambda x, y: x.log()),
    ("sigmoid, tanh", lambda x, y: x.sigmoid()),
]


def measure(n_parties: int) -> dict[str, tuple[int, float]]:
    out = {}
    with Session(n_parties=n_parties) as s:
        rng = np.random.default_rng(0)
        x = s.share(np.abs(rng.normal(size=N)) + 0.5)
        y = s.share(np.abs(rng.normal(size=N)) + 0.5)
        for name, fn in OPS:
            s.reset_stats()
            fn(x, y)
            party = s.stats()["parties"][0]
            out[name] = (party["rounds"], party["bytes_sent"] / N)
        a, b = s.share(np.ones((M, K))), s.share(np.ones((K, P)))
        s.reset_stats()
        a @ b
        party = s.stats()["parties"][0]
        out[f"matmul ({M}x{K}) @ ({K}x{P}), per output"] = (party["rounds"], party["bytes_sent"] / (M * P))
        z = s.share(np.ones((N // 8, 8)))
        s.reset_stats()
        z.max(axis=1)
        party = s.stats()["parties"][0]
        out["max / argmax over 8, per row"] = (party["rounds"], party["bytes_sent"] / (N // 8))
        s.reset_stats()
        z.softmax(axis=1)
        party = s.stats()["parties"][0]
        out["softmax over 8, per row"] = (party["rounds"], party["bytes_sent"] / (N // 8))
    return out


def table() -> str:
    two, three = measure(2), measure(3)
    lines = ["| op | rounds (2 parties) | bytes/element/party (2) | rounds (3 parties) | bytes/element/party (3) |",
             "|---|---:|---:|---:|---:|"]
    for name in two:
        r2, b2 = two[name]
        r3, b3 = three[name]
        lines.append(f"| {name} | {r2} | {b2:.1f} | {r3} | {b3:.1f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(table())
