"""Attack benchmark, same run: SECURED's attacks next to Anonymeter 1.1.0 (when its own
environment exists: ``make peers`` creates .venv-anon, or set SECURED_ANONYMETER_PYTHON).

1. UCI Adult, 80/20 split (shuffled with random_state=0), release = original: linkability
   (k = 1 and 10), inference (salary-class, occupation), singling-out; risk averaged over
   ``--seeds`` seeds, and seconds per run.
2. diabetes130 at ``--rows`` released rows (default 100,000; release = original; control = the
   rows left over, topped up from the start when short): seconds per attack on 2 cores
   (target <= 60 s each), next to Anonymeter at the same size unless ``--no-anonymeter-big``.

    python benchmarks/bench_attacks.py [--seeds 3] [--rows 100000] [--no-anonymeter-big]

Singling-out: both evaluate predicates on the whole original and correct the control count
to the original's size (Anonymeter with a model fitted to random subsamples; SECURED with the
same model fitted to exact subsample expectations, or exactly when the control is larger).
They differ by design in one place: Anonymeter drops duplicate rows of the original, the
release and the control first, so a predicate that matches two identical people counts as
singling one out; SECURED keeps duplicates (a predicate must isolate one row, or one person).
On Adult, whose 9 columns repeat many rows, that is the whole gap.
"""

import argparse
import functools
import time

import numpy as np

from secured.bench.anonymeter_peer import anonymeter_python, run_anonymeter
from secured.data import load
from secured.privacy.attacks import inference, linkability, singling_out

print = functools.partial(print, flush=True)  # noqa: A001
HALVES = (["age", "sex", "race", "marital-status"], ["education", "native-country", "workclass", "occupation"])
D_COLS = (["race", "gender", "age", "time_in_hospital"], ["num_lab_procedures", "num_medications",
                                                         "admission_type_id", "diag_1"])


def ours(ori, ctl, spec, seed):
    if spec["kind"] == "linkability":
        return linkability(ori, ori, ctl, tuple(spec["aux"]), n_attacks=spec["n_attacks"],
                           n_neighbors=spec["n_neighbors"], seed=seed)
    if spec["kind"] == "inference":
        return inference(ori, ori, ctl, spec["aux"], spec["secret"], n_attacks=spec["n_attacks"], seed=seed)
    return singling_out(ori, ori, ctl, spec["columns"], mode=spec["mode"], n_attacks=spec["n_attacks"],
                        max_attempts=spec["max_attempts"], seed=seed)


def table(ori, ctl, specs, seeds, python, numeric):
    theirs = run_anonymeter(python, ori, ctl, [dict(s, seeds=list(seeds)) for s in specs], numeric) if python else {}
    print("| attack | ours: risk | s/run | Anonymeter 1.1.0: risk | s/run | speed-up |")
    print("|---|---:|---:|---:|---:|---:|")
    for spec in specs:
        ours(ori.head(2000), ctl.head(500), dict(spec, n_attacks=50, max_attempts=2000), 0)  # imports, caches
        start = time.perf_counter()
        values = [ours(ori, ctl, spec, s).risk.value for s in seeds]
        sec = (time.perf_counter() - start) / len(seeds)
        t = theirs.get(spec["name"])
        other = f"{t['risk']:.4f} | {t['seconds']:.2f} | {t['seconds'] / sec:.1f}x" if t else "- | - | -"
        print(f"| {spec['name']} | {np.mean(values):.4f} | {sec:.2f} | {other} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--no-anonymeter-big", dest="anonymeter_big", action="store_false",
                        help="Skip Anonymeter on the 100k-row table (minutes).")
    args = parser.parse_args()
    python = anonymeter_python()
    if python is None:
        print("Anonymeter not run: `make peers` creates .venv-anon (or set SECURED_ANONYMETER_PYTHON).\n")
    adult = load("adult").sample(frac=1, random_state=0).reset_index(drop=True)
    n = int(0.8 * len(adult))
    ori, ctl = adult.iloc[:n].reset_index(drop=True), adult.iloc[n:].reset_index(drop=True)
    cols = list(adult.columns)
    specs = [
        {"name": "linkability k=1", "kind": "linkability", "aux": HALVES, "n_neighbors": 1, "n_attacks": 2000},
        {"name": "linkability k=10", "kind": "linkability", "aux": HALVES, "n_neighbors": 10, "n_attacks": 2000},
        *({"name": f"inference {s}", "kind": "inference", "secret": s, "aux": [c for c in cols if c != s],
           "n_attacks": 2000} for s in ("salary-class", "occupation")),
        {"name": "singling-out univariate", "kind": "singling_out", "mode": "univariate", "columns": cols,
         "n_attacks": 500, "max_attempts": 100_000},
        {"name": "singling-out multivariate", "kind": "singling_out", "mode": "multivariate", "columns": cols,
         "n_attacks": 500, "max_attempts": 100_000},
    ]
    print(f"## Adult, release = original ({len(ori):,} rows, control {len(ctl):,}), mean of {args.seeds} seeds\n")
    table(ori, ctl, specs, range(args.seeds), python, ["age"])
    deduplicated = adult.drop_duplicates().reset_index(drop=True)
    n = int(0.8 * len(deduplicated))
    print(f"\n## Adult without duplicate rows ({len(deduplicated):,} rows): where Anonymeter's de-duplication "
          "changes nothing, singling-out must agree\n")
    table(deduplicated.iloc[:n].reset_index(drop=True), deduplicated.iloc[n:].reset_index(drop=True), specs[-2:],
          range(args.seeds), python, ["age"])
    d = load("diabetes130")[[*D_COLS[0], *D_COLS[1], "readmitted"]].sample(frac=1, random_state=0)
    d = d.reset_index(drop=True)
    rows = min(args.rows, len(d) - 2000)
    ori, ctl = d.iloc[:rows].reset_index(drop=True), d.iloc[-2000:].reset_index(drop=True)
    big = [
        {"name": "linkability k=1", "kind": "linkability", "aux": D_COLS, "n_neighbors": 1, "n_attacks": 2000},
        {"name": "inference readmitted", "kind": "inference", "secret": "readmitted",
         "aux": [*D_COLS[0], *D_COLS[1]], "n_attacks": 2000},
        {"name": "singling-out multivariate", "kind": "singling_out", "mode": "multivariate",
         "columns": [*D_COLS[0], *D_COLS[1]], "n_attacks": 500, "max_attempts": 100_000},
    ]
    numeric = ["time_in_hospital", "num_lab_procedures", "num_medications", "admission_type_id"]
    print(f"\n## diabetes130, release = original ({len(ori):,} rows, control {len(ctl):,}), one seed\n")
    table(ori, ctl, big, range(1), python if args.anonymeter_big else None, numeric)
