"""Anonymeter side of ``benchmarks/bench_attacks.py``, run by the peers' Python (not
SECURED's): Anonymeter 1.1.0 pins numpy < 1.27 and pyarrow < 22, so it lives in its own
virtual environment (``make peers`` creates ``.venv-anon``). Reads a JSON job on stdin,
prints one JSON line: per attack, the risk, its interval and the seconds taken.
"""

import json
import sys
import time
import warnings

import numpy as np
import pandas as pd

warnings.filterwarnings("ignore")
import anonymeter.evaluators as ev  # noqa: E402  (import the evaluators first: circular import otherwise)


def main() -> None:
    job = json.load(sys.stdin)
    ori, ctl = pd.read_parquet(job["original"]), pd.read_parquet(job["control"])
    for c in job.get("numeric", []):
        ori[c], ctl[c] = pd.to_numeric(ori[c]), pd.to_numeric(ctl[c])
    out = []
    for attack in job["attacks"]:
        values, seconds = [], 0.0
        for seed in attack["seeds"]:
            np.random.seed(seed)
            start = time.perf_counter()
            if attack["kind"] == "linkability":
                e = ev.LinkabilityEvaluator(ori=ori, syn=ori, control=ctl, aux_cols=tuple(attack["aux"]),
                                            n_attacks=attack["n_attacks"], n_neighbors=attack["n_neighbors"])
            elif attack["kind"] == "inference":
                e = ev.InferenceEvaluator(ori=ori, syn=ori, control=ctl, aux_cols=attack["aux"],
                                          secret=attack["secret"], n_attacks=attack["n_attacks"])
            else:
                e = ev.SinglingOutEvaluator(ori=ori, syn=ori, control=ctl, n_attacks=attack["n_attacks"],
                                            max_attempts=attack["max_attempts"])
            e.evaluate(**({"mode": attack["mode"]} if attack["kind"] == "singling_out" else {"n_jobs": -1}))
            seconds += time.perf_counter() - start
            values.append(float(e.risk().value))
        out.append({"name": attack["name"], "risk": float(np.mean(values)),
                    "seconds": seconds / len(attack["seeds"])})
    print(json.dumps(out))


if __name__ == "__main__":
    main()
