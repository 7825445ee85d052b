"""Measured error of the secret-shared nonlinear functions against float64 (same run).

    python benchmarks/accuracy_mpc.py [--parties 2,3] [--points 20000]

For each function and input range it shares the inputs, evaluates the function under SMPC,
reveals, and compares with float64 applied to the fixed-point *encoded* inputs (so input
rounding is not counted as protocol error). It prints max absolute and max relative errors
and the rounds per party. The README's table comes from this script.
"""

from __future__ import annotations

import argparse

import numpy as np

from secured.mpc import Session

CASES = [
    # name, method, (lo, hi, spacing), reference, error kind reported
    ("exp", "exp", (-4.0, 7.0, "lin"), np.exp, "rel"),
    ("exp", "exp", (-64.0, -4.0, "lin"), np.exp, "abs"),
    ("reciprocal", "reciprocal", (2.0**-10, 2.0**10, "geom"), lambda x: 1 / x, "rel"),
    ("reciprocal", "reciprocal", (-(2.0**10), -(2.0**-10), "geom"), lambda x: 1 / x, "rel"),
    ("rsqrt", "rsqrt", (2.0**-10, 2.0**14, "geom"), lambda x: 1 / np.sqrt(x), "rel"),
    ("reciprocal (table)", "reciprocal:table", (2.0**-4, 2.0**6, "geom"), lambda x: 1 / x, "rel"),
    ("rsqrt (table)", "rsqrt:table", (2.0**-4, 2.0**6, "geom"), lambda x: 1 / np.sqrt(x), "rel"),
    ("sqrt", "sqrt", (2.0**-10, 2.0**14, "geom"), np.sqrt, "rel"),
    ("log", "log", (2.0**-10, 2.0**14, "geom"), np.log, "abs"),
    ("sigmoid", "sigmoid", (-100.0, 100.0, "lin"), lambda x: 1 / (1 + np.exp(-x)), "abs"),
    ("tanh", "tanh", (-50.0, 50.0, "lin"), np.tanh, "abs"),
]


def _points(lo: float, hi: float, spacing: str, n: int) -> np.ndarray:
    if spacing == "geom":
        sign = -1.0 if hi < 0 else 1.0
        return sign * np.geomspace(abs(lo), abs(hi), n)
    return np.linspace(lo, hi, n)


def measure(n_parties: int, points: int) -> list[dict]:
    rows = []
    with Session(n_parties=n_parties) as s:
        f = s.fractional_bits
        for name, method, (lo, hi, spacing), ref, kind in CASES:
            x = _points(lo, hi, spacing, points)
            xe = np.round(x * 2**f) / 2**f
            shared = s.share(x)
            s.reset_stats()
            op, _, how = method.partition(":")            # "reciprocal:table": method="table"
            got = (getattr(shared, op)(method=how) if how else getattr(shared, op)()).reveal()
            rounds = s.stats()["parties"][0]["rounds"]
            expected = ref(xe)
            err = np.abs(got - expected)
            rel = err / np.abs(expected)
            rows.append({"function": name, "range": f"[{min(lo, hi):.4g}, {max(lo, hi):.4g}]",
                         "max_abs": float(err.max()), "max_rel": float(rel.max()),
                         "reported": kind, "rounds": rounds, "parties": n_parties})
        x = np.random.default_rng(0).normal(scale=5.0, size=(points // 10, 10))
        xe = np.round(x * 2**f) / 2**f
        s.reset_stats()
        got = s.share(x).softmax(axis=1).reveal()
        z = np.exp(xe - xe.max(axis=1, keepdims=True))
        err = np.abs(got - z / z.sum(axis=1, keepdims=True))
        rows.append({"function": "softmax (10 classes)", "range": "N(0, 5^2) logits",
                     "max_abs": float(err.max()), "max_rel": float("nan"), "reported": "abs",
                     "rounds": s.stats()["parties"][0]["rounds"], "parties": n_parties})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parties", default="2,3")
    parser.add_argument("--points", type=int, default=20000)
    args = parser.parse_args()
    print("| parties | function | input range | max abs error | max rel error | rounds |")
    print("|---:|---|---|---:|---:|---:|")
    for n in (int(p) for p in args.parties.split(",")):
        for r in measure(n, args.points):
            rel = "—" if r["reported"] == "abs" else f"{r['max_rel']:.1e}"
            print(f"| {r['parties']} | {r['function']} | {r['range']} | {r['max_abs']:.1e} | {rel} | {r['rounds']} |")


if __name__ == "__main__":
    main()
