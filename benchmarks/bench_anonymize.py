"""Anonymization benchmark, same run:

1. Adult (8 quasi-identifiers, ARX hierarchies, k=5, no suppression): the Flash-style optimal
   search vs exhaustive search (nodes checked, seconds, same optimum?).
2. diabetes130 (101,766 encounters, patients counted once): checking k, l and t; Mondrian
   with 5 quasi-identifiers; MDAV on 4 numeric ones; a DP age x readmitted histogram.
3. Scaling: the same on diabetes130 replicated to ``--scale-rows`` rows (default 1M; the
   copies get fresh patient ids), to show how each step grows.

    python benchmarks/bench_anonymize.py [--k 5] [--scale-rows 1000000] [--no-scale]

ARX's published figure for (1): the optimum in ~28 ms checking 115 nodes (Java), on its own
4,320-node lattice (the hierarchies shipped here give 6,480 nodes).
"""

import argparse
import functools
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from secured.data import load, path
from secured.privacy import Hierarchy, optimal_recoding
from secured.privacy.criteria import PrivacyCriteria
from secured.privacy.dp import BudgetLedger, dp_histogram
from secured.privacy.lattice import exhaustive_recoding
from secured.privacy.mdav import MDAV
from secured.privacy.models import check_k_anonymity, check_l_diversity, check_t_closeness
from secured.privacy.mondrian import Mondrian

print = functools.partial(print, flush=True)  # noqa: A001 - progress shows when piped

DIAB_QIS = ["age", "gender", "race", "diag_1", "time_in_hospital"]
DIAB_NUMERIC = ["time_in_hospital", "num_lab_procedures", "num_medications", "number_diagnoses"]


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def adult_lattice(k: float, suppression: float) -> None:
    df = load("adult")
    qis = [c for c in df.columns if c != "salary-class"]
    hierarchies = {c: Hierarchy.from_arx_csv(c, path(f"arx/adult_hierarchy_{c}.csv")) for c in qis}
    fast = optimal_recoding(df, qis, hierarchies, k=k, max_suppression=suppression)
    full = exhaustive_recoding(df, qis, hierarchies, k=k, max_suppression=suppression)
    print(f"## Adult, optimal global recoding, k={k}, suppression {suppression:.0%}\n")
    print(f"| search | nodes checked (of {full.nodes_total}) | seconds | optimum (discernibility) |")
    print("|---|---:|---:|---|")
    for name, r in (("ours, Flash-style", fast), ("exhaustive", full)):
        print(f"| {name} | {r.nodes_checked} | {r.seconds:.3f} | {r.metric:.0f} at {r.levels} |")
    print(f"\nsame optimum: {fast.metric == full.metric}; speed-up {full.seconds / fast.seconds:.0f}x\n")


def diabetes_steps(df: pd.DataFrame, k: int, mdav: bool = True) -> list[tuple[str, float, str]]:
    H = {"age": Hierarchy.from_spec("age", "ordered:2,5", df["age"]),
         "gender": Hierarchy.from_spec("gender", "flat", df["gender"]),
         "race": Hierarchy.from_spec("race", "flat", df["race"]),
         "diag_1": Hierarchy.icd9("diag_1", df["diag_1"])}
    rows = []
    (kk, ll, tt), s = timed(lambda: (check_k_anonymity(df, DIAB_QIS, "patient_nbr"),
                                     check_l_diversity(df, DIAB_QIS, "readmitted", "entropy"),
                                     check_t_closeness(df, DIAB_QIS, "readmitted")))
    rows.append(("check k (people), entropy-l, t on the original", s, f"k={kk}, l={ll:.2f}, t={tt:.3f}"))
    model = Mondrian(DIAB_QIS, PrivacyCriteria(k=k, id_column="patient_nbr"), hierarchies=H,
                     numeric=["time_in_hospital"])
    release, s = timed(lambda: model.fit_transform(df))
    rows.append((f"Mondrian, 5 QIs, k={k} people", s, f"{model.partitions_} partitions"))
    (kk, ll, tt), s = timed(lambda: (check_k_anonymity(release, DIAB_QIS, "patient_nbr"),
                                     check_l_diversity(release, DIAB_QIS, "readmitted", "entropy"),
                                     check_t_closeness(release, DIAB_QIS, "readmitted")))
    rows.append(("check k, l, t on the Mondrian release", s, f"k={kk}, l={ll:.2f}, t={tt:.3f}"))
    crit = PrivacyCriteria(k=k, id_column="patient_nbr", sensitive="readmitted", l=2)
    model_l = Mondrian(DIAB_QIS, crit, hierarchies=H, numeric=["time_in_hospital"])
    _, s = timed(lambda: model_l.fit_transform(df))
    rows.append((f"Mondrian, 5 QIs, k={k} people, distinct l=2", s, f"{model_l.partitions_} partitions"))
    if mdav:  # O(n^2 / k): skipped in the scaling run
        model_m = MDAV(DIAB_NUMERIC, PrivacyCriteria(k=k, id_column="patient_nbr"))
        _, s = timed(lambda: model_m.fit_transform(df))
        rows.append((f"MDAV, 4 numeric QIs, k={k} people", s, f"{model_m.groups_} groups"))
    else:
        rows.append((f"MDAV, 4 numeric QIs, k={k} people", float("nan"), "skipped: O(n^2/k)"))
    ledger = BudgetLedger(Path(tempfile.mkdtemp()) / "ledger.json", rho=10.0)
    domains = {"age": [f"[{10 * i}-{10 * (i + 1)})" for i in range(10)], "readmitted": ["NO", ">30", "<30"]}
    rel, s = timed(lambda: dp_histogram(df, ["age", "readmitted"], rho=0.5, id_column="patient_nbr", domains=domains,
                                        ledger=ledger))
    rows.append(("DP age x readmitted histogram, rho=0.5, 1 row/patient", s, f"noise sd {rel.scale:.2f}"))
    return rows


def replicate(df: pd.DataFrame, rows: int) -> pd.DataFrame:
    copies = int(np.ceil(rows / len(df)))
    parts = []
    for i in range(copies):
        part = df.copy()
        part["patient_nbr"] = part["patient_nbr"].astype(str) + f"-{i}"
        parts.append(part)
    return pd.concat(parts, ignore_index=True).iloc[:rows]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--suppression", type=float, default=0.0)
    parser.add_argument("--scale-rows", type=int, default=1_000_000)
    parser.add_argument("--no-scale", action="store_true", help="Skip the scaling run.")
    args = parser.parse_args()
    adult_lattice(args.k, args.suppression)
    diabetes = load("diabetes130")
    sizes = [len(diabetes)] + ([] if args.no_scale else [args.scale_rows])
    results = {n: diabetes_steps(diabetes if n == len(diabetes) else replicate(diabetes, n), args.k,
                                 mdav=n == len(diabetes)) for n in sizes}
    print("## diabetes130 (patients counted once)\n")
    print("| step | " + " | ".join(f"{n:,} rows (s)" for n in sizes) + " | note (first size) |")
    print("|---|" + "---:|" * len(sizes) + "---|")
    for i, (name, _, note) in enumerate(results[sizes[0]]):
        print(f"| {name} | " + " | ".join(f"{results[n][i][1]:.2f}" for n in sizes) + f" | {note} |")
    if len(sizes) > 1:
        ratio = [results[sizes[1]][i][1] / results[sizes[0]][i][1] for i in range(len(results[sizes[0]]))]
        print(f"\ntime ratio {sizes[1]:,} / {sizes[0]:,} rows: " + ", ".join(f"{r:.1f}x" for r in ratio)
              + f" (rows x{sizes[1] / sizes[0]:.1f})")
