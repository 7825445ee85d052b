"""Synthetic data: every generator on Adult, diabetes130 (readmission) and NIST CRC 2019, with
every metric of ``secured.synth.evaluate``, fit and sample times, in one run; the baselines
measured in the same run are the real rows themselves (train on real, the holdout's own
k-marginal) and the Gaussian copula (speed). Also the DP generator on NIST CRC 2019 at several
epsilons with its ledger, and the speed targets on 10,000 rows.

    python benchmarks/bench_synth.py                       # everything (about 25 minutes, 2 cores)
    python benchmarks/bench_synth.py --datasets adult --generators copula,tabddpm
    python benchmarks/bench_synth.py --speed-only
    python benchmarks/bench_synth.py --device cuda --speed-only   # on a GPU host

Prints markdown tables (``--json FILE`` keeps every number).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from secured.data import load, nist_crc, nist_crc_domain, path  # noqa: E402
from secured.privacy.dp import BudgetLedger  # noqa: E402
from secured.synth import MST, TVAE, GaussianCopula, TabDDPM, evaluate, k_marginal_score, typed  # noqa: E402

NIST_NUMERIC = ["AGEP", "POVPIP", "PINCP", "PWGTP", "WGTP"]
DIABETES = ["race", "gender", "age", "admission_type_id", "discharge_disposition_id", "admission_source_id",
            "time_in_hospital", "num_lab_procedures", "num_procedures", "num_medications", "number_outpatient",
            "number_emergency", "number_inpatient", "number_diagnoses", "A1Cresult", "insulin", "change",
            "diabetesMed", "readmitted"]


def adult_domain() -> dict:
    """Public domain of Adult: the values listed by the ARX hierarchy files; age 17-90."""
    domain = {}
    for column in load("adult").columns:
        if column == "age":
            domain[column] = {"kind": "integer", "low": 17, "high": 90}
            continue
        values = pd.read_csv(path(f"arx/adult_hierarchy_{column}.csv"), sep=";", header=None, dtype=str)[0]
        domain[column] = sorted(set(values))
    return domain


def diabetes_domain() -> dict:
    """Public domain of the diabetes130 columns: the UCI documentation's categories and the
    code tables of IDs_mapping.csv (1-8, 1-30, 1-26); count ranges as documented."""
    ids = {"admission_type_id": 8, "discharge_disposition_id": 30, "admission_source_id": 26}
    counts = {"time_in_hospital": (1, 14), "num_lab_procedures": (0, 132), "num_procedures": (0, 6),
              "num_medications": (0, 81), "number_outpatient": (0, 42), "number_emergency": (0, 76),
              "number_inpatient": (0, 21), "number_diagnoses": (1, 16)}
    domain = {"race": ["?", "AfricanAmerican", "Asian", "Caucasian", "Hispanic", "Other"],
              "gender": ["Female", "Male", "Unknown/Invalid"],
              "age": [f"[{10 * i}-{10 * i + 10})" for i in range(10)],
              "A1Cresult": [">7", ">8", "None", "Norm"], "insulin": ["Down", "No", "Steady", "Up"],
              "change": ["Ch", "No"], "diabetesMed": ["No", "Yes"], "readmitted": ["<30", ">30", "NO"]}
    domain.update({c: [str(i) for i in range(1, k + 1)] for c, k in ids.items()})
    domain.update({c: {"kind": "integer", "low": lo, "high": hi, "bins": min(hi - lo + 1, 24)}
                   for c, (lo, hi) in counts.items()})
    return domain


def datasets(rows: int | None):
    rng = np.random.default_rng(0)
    adult = typed(load("adult"))
    order = rng.permutation(len(adult))
    cut = int(0.8 * len(adult))
    yield ("adult", adult.iloc[order[:cut]].reset_index(drop=True), adult.iloc[order[cut:]].reset_index(drop=True),
           "salary-class", adult_domain(), {})
    diabetes = load("diabetes130")[DIABETES]
    diabetes = typed(diabetes, discrete=["admission_type_id", "discharge_disposition_id", "admission_source_id"])
    order = rng.permutation(len(diabetes))
    n = rows or 20_000
    yield ("diabetes130", diabetes.iloc[order[:n]].reset_index(drop=True),
           diabetes.iloc[order[n:n + 10_000]].reset_index(drop=True), "readmitted", diabetes_domain(), {})
    nist, nist18 = nist_crc(2019), nist_crc(2018)
    yield ("nist2019", nist, nist18, "PINCP_DECILE", nist_crc_domain(nist18),
           {"group": "PUMA", "exclude": ["INDP"], "numeric": NIST_NUMERIC})


def make(kind: str, device: str, epsilon: float, domain: dict, target: str | None = None):
    if kind == "copula":
        return GaussianCopula(seed=0)
    if kind == "tvae":
        return TVAE(seed=0, device=device)
    if kind == "tabddpm":                # TabDDPM's class conditioning on the classification target
        return TabDDPM(seed=0, device=device, condition_on=target)
    return MST(epsilon=epsilon, delta=1e-6, domain=domain, seed=0)


def fit(gen, train: pd.DataFrame, ledger_dir: str, discrete: list[str]):
    start = time.perf_counter()
    if gen.name == "mst":
        ledger = BudgetLedger(os.path.join(ledger_dir, f"ledger-{time.time_ns()}.json"), rho=100.0)
        table = train.copy()
        for c, spec in gen.domain.items():
            if isinstance(spec, list):
                table[c] = table[c].astype(str).where(table[c].notna())
        gen.fit(table, ledger=ledger)
        return time.perf_counter() - start, ledger
    gen.fit(train, discrete_columns=discrete)
    return time.perf_counter() - start, None


def quality(args) -> list[dict]:
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, train, holdout, target, domain, km in datasets(args.rows):
            if name not in args.datasets:
                continue
            discrete = [c for c in ("admission_type_id", "discharge_disposition_id", "admission_source_id")
                        if c in train.columns]
            for kind in args.generators:
                gen = make(kind, args.device, 1.0, domain, target)
                fit_s, ledger = fit(gen, train, tmp, discrete)
                t = time.perf_counter()
                syn = gen.sample(len(train), seed=1)
                sample_s = time.perf_counter() - t
                if kind == "mst":       # its categories are the domain's strings
                    for c in syn.columns:
                        if c in train.columns and train[c].dtype != syn[c].dtype and not \
                                pd.api.types.is_numeric_dtype(train[c]):
                            syn[c] = syn[c].astype(str)
                report = evaluate(train, syn, holdout, target=target, n_attacks=args.attacks, seed=0,
                                  k_marginal=km or None)
                gb, lr = report["utility"]["gradient_boosting"], report["utility"]["logistic_regression"]
                row = {"dataset": name, "generator": kind, "rows": len(train), "fit_s": fit_s, "sample_s": sample_s,
                       "rows_per_s": len(syn) / sample_s, "shapes": report["shapes"]["mean"],
                       "pairs": report["pair_trends"], "k_marginal": report["k_marginal"],
                       "k_marginal_holdout": report["k_marginal_holdout"],
                       "detection": report["detection"]["auroc"], "trtr_f1_gb": gb["trtr"]["f1_macro"],
                       "tstr_f1_gb": gb["tstr"]["f1_macro"], "trtr_f1_lr": lr["trtr"]["f1_macro"],
                       "tstr_f1_lr": lr["tstr"]["f1_macro"], "tstr_auroc_gb": gb["tstr"]["auroc"],
                       "trtr_auroc_gb": gb["trtr"]["auroc"], "copies": report["privacy"]["exact_copies"],
                       "copies_holdout": report["privacy"]["exact_copies_holdout"],
                       "dcr_closer": report["privacy"]["dcr"]["closer_to_original"]["value"],
                       "max_attack_upper": report["privacy"]["max_attack_upper"],
                       "memorizes": report["privacy"]["memorizes"],
                       "epsilon": 1.0 if kind == "mst" else None}
                results.append(row)
                print(f"{name:12s} {kind:8s} fit {fit_s:7.1f}s sample {row['rows_per_s']:9.0f} rows/s  "
                      f"k-marg {row['k_marginal']:6.0f} (holdout {row['k_marginal_holdout']:.0f})  "
                      f"det {row['detection']:.3f}  TSTR F1 {row['tstr_f1_gb']:.3f} vs TRTR {row['trtr_f1_gb']:.3f}  "
                      f"copies {row['copies']:.2%} (holdout {row['copies_holdout']:.2%})", flush=True)
    return results


def dp_sweep(args) -> list[dict]:
    """MST on NIST CRC 2019 at several epsilons: SDNist's k-marginal and the ledger."""
    train, reference = nist_crc(2019), nist_crc(2018)
    domain = nist_crc_domain(reference)
    km = {"group": "PUMA", "exclude": ["INDP"], "numeric": NIST_NUMERIC}
    boot = train.sample(frac=1, replace=True, random_state=0)
    ceiling = {"2018 excerpt": k_marginal_score(train, reference, **km),
               "bootstrap of 2019": k_marginal_score(train, boot, **km)}
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for eps in args.epsilons:
            ledger = BudgetLedger(os.path.join(tmp, f"l{eps}.json"), rho=1000.0)
            gen = MST(epsilon=eps, delta=1e-6, domain=domain, seed=0)
            start = time.perf_counter()
            gen.fit(train, ledger=ledger)
            fit_s = time.perf_counter() - start
            syn = gen.sample(len(train), seed=1)
            row = {"epsilon": eps, "delta": 1e-6, "rho": gen.rho_, "ledger_entries": len(ledger.entries),
                   "ledger_spent_rho": ledger.spent, "k_marginal_sdnist": k_marginal_score(train, syn, **km),
                   "k_marginal_3way": k_marginal_score(train, syn), "fit_s": fit_s,
                   "marginals": [m for m in gen.marginals_ if len(m) > 1]}
            out.append(row)
            print(f"MST eps={eps:<5g} rho={gen.rho_:.5f} ledger: {row['ledger_entries']} entries, spent "
                  f"{ledger.spent:.5f}; k-marginal (SDNist, PUMA x pairs) {row['k_marginal_sdnist']:.0f}, "
                  f"3-way {row['k_marginal_3way']:.0f}; fit {fit_s:.1f} s", flush=True)
    print("ceilings (SDNist form): " + ", ".join(f"{k} {v:.0f}" for k, v in ceiling.items()))
    peer = Path(__file__).resolve().parents[1] / ".venv-synthpeers" / "bin" / "python"
    if peer.exists() and not args.no_peer:
        out += peer_mst(peer, train, args.epsilons, km)
    return [{"ceilings": ceiling}, *out]


def _from_labels(values: pd.Series, integer: bool, rng: np.random.Generator) -> pd.Series:
    """The peer's bin labels '[a,b)' back to numbers, uniform inside the bin; other cells as
    numbers ('N' -> missing)."""
    text = values.astype(str)
    out = pd.to_numeric(text.where(~text.str.startswith("[")), errors="coerce")
    binned = text.str.startswith("[")
    if binned.any():
        bounds = text[binned].str.strip("[)").str.split(",", expand=True).astype(float)
        lo, hi = bounds[0].to_numpy(), bounds[1].to_numpy()
        x = lo + rng.random(len(lo)) * (hi - lo)
        out[binned] = np.floor(x) if integer else x
    return out


def peer_mst(python: Path, train: pd.DataFrame, epsilons: list[float], km: dict) -> list[dict]:
    """smartnoise-synth 1.0.8's MST (its own venv, `make peers`) on the same table, scored with
    the same k-marginal; its fixed bins are turned back into numbers uniformly."""
    import subprocess

    rows = []
    script = Path(__file__).resolve().parent / "peer_smartnoise_mst.py"
    source = path("nist2019")
    rng = np.random.default_rng(0)
    for eps in epsilons:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "peer.csv"
            start = time.perf_counter()
            done = subprocess.run([str(python), str(script), "--input", str(source), "--epsilon", str(eps), "--delta",
                                   "1e-6", "--out", str(out)], capture_output=True, text=True)
            seconds = time.perf_counter() - start
            if done.returncode != 0:
                print(f"smartnoise MST eps={eps}: failed ({done.stderr.strip().splitlines()[-1:]})")
                continue
            syn = pd.read_csv(out, dtype=str, keep_default_na=False)
        for c in ["AGEP", "NOC", "NPF", "PINCP", "POVPIP", "PWGTP", "WGTP", "DENSITY"]:
            syn[c] = _from_labels(syn[c], c not in ("PINCP", "DENSITY"), rng)
        row = {"peer": "smartnoise-synth 1.0.8 MST", "epsilon": eps,
               "k_marginal_sdnist": k_marginal_score(train, syn[train.columns], **km),
               "k_marginal_3way": k_marginal_score(train, syn[train.columns]), "seconds": seconds}
        rows.append(row)
        print(f"smartnoise MST eps={eps:<5g} k-marginal (SDNist) {row['k_marginal_sdnist']:.0f}, 3-way "
              f"{row['k_marginal_3way']:.0f}; {seconds:.0f} s (its fixed bins, DENSITY binned)", flush=True)
    return rows


def speed(args) -> dict:
    """The speed targets: copula fit + sample of 10,000 x 20 columns; TVAE and TabDDPM fit on
    10,000 Adult rows and sample rows/s, next to the copula."""
    rng = np.random.default_rng(0)
    wide = pd.DataFrame({f"x{i}": rng.normal(size=10_000) for i in range(14)})
    for i in range(6):
        wide[f"c{i}"] = rng.choice(list("abcde"), 10_000)
    t = time.perf_counter()
    GaussianCopula(seed=0).fit(wide).sample(10_000, seed=1)
    copula_wide = time.perf_counter() - t
    adult = typed(load("adult")).sample(10_000, random_state=0).reset_index(drop=True)
    out = {"copula_fit_sample_10k_x_20_s": copula_wide, "device": args.device}
    base = None
    for kind in ("copula", "tvae", "tabddpm"):
        gen = make(kind, args.device, 1.0, {})
        t = time.perf_counter()
        gen.fit(adult)
        fit_s = time.perf_counter() - t
        gen.sample(1000, seed=0)                        # warm-up
        t = time.perf_counter()
        gen.sample(50_000, seed=1)
        rate = 50_000 / (time.perf_counter() - t)
        base = base or rate
        out[kind] = {"fit_10k_adult_s": fit_s, "sample_rows_per_s": rate, "vs_copula": rate / base}
        print(f"{kind:8s} fit 10k Adult rows {fit_s:6.1f} s; samples {rate:10,.0f} rows/s ({rate / base:.3f}x the "
              f"copula)", flush=True)
    print(f"copula fit + sample 10,000 x 20: {copula_wide:.2f} s")
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", default="adult,diabetes130,nist2019")
    ap.add_argument("--generators", default="copula,tvae,tabddpm,mst")
    ap.add_argument("--epsilons", default="0.3,1,10")
    ap.add_argument("--rows", type=int, default=None, help="diabetes130 training rows (default 20,000)")
    ap.add_argument("--attacks", type=int, default=500)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--speed-only", action="store_true")
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--skip-dp", action="store_true")
    ap.add_argument("--no-peer", action="store_true", help="skip smartnoise-synth's MST even when .venv-synthpeers exists")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    args.datasets = args.datasets.split(",")
    args.generators = args.generators.split(",")
    args.epsilons = [float(e) for e in args.epsilons.split(",")]
    results: dict = {}
    if not args.skip_speed:
        results["speed"] = speed(args)
    if not args.speed_only:
        results["quality"] = quality(args)
        if not args.skip_dp:
            results["dp"] = dp_sweep(args)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=float))


if __name__ == "__main__":
    main()
