"""Optimal global recoding on Adult (8 quasi-identifiers, ARX hierarchies, k=5, no
suppression): the Flash-style search vs exhaustive search, same run.

    python benchmarks/bench_anonymize.py [--k 5] [--suppression 0.0]

ARX's published figure for this setting: the optimum in ~28 ms checking 115 nodes (Java).
"""

import argparse

from secured.data import load, path
from secured.privacy import Hierarchy, optimal_recoding
from secured.privacy.lattice import exhaustive_recoding

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--suppression", type=float, default=0.0)
    args = parser.parse_args()
    df = load("adult")
    qis = [c for c in df.columns if c != "salary-class"]
    hierarchies = {c: Hierarchy.from_arx_csv(c, path(f"arx/adult_hierarchy_{c}.csv")) for c in qis}
    fast = optimal_recoding(df, qis, hierarchies, k=args.k, max_suppression=args.suppression)
    full = exhaustive_recoding(df, qis, hierarchies, k=args.k, max_suppression=args.suppression)
    print(f"| search | nodes checked (of {full.nodes_total}) | seconds | optimum (discernibility) |")
    print("|---|---:|---:|---|")
    for name, r in (("ours, Flash-style", fast), ("exhaustive", full)):
        print(f"| {name} | {r.nodes_checked} | {r.seconds:.3f} | {r.metric:.0f} at {r.levels} |")
    print(f"same optimum: {fast.metric == full.metric}; speed-up {full.seconds / fast.seconds:.0f}x")
