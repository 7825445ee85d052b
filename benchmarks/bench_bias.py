"""Bias: the dataset report's speed next to fairlearn's MetricFrame on the same 1,000,000 rows,
and every mitigation judged by models trained on the mitigated data and tested on untouched
real rows (Adult: sex x race, salary-class; diabetes130: race x gender x age band,
readmission within 30 days), with the unmitigated model as the baseline of the same run.

    python benchmarks/bench_bias.py                                  # everything (~15 min, 2 cores)
    python benchmarks/bench_bias.py --speed-only
    python benchmarks/bench_bias.py --datasets adult --generator copula

Model statistical parity difference: max - min over the intersectional groups (those with at
least 10 test rows, 10 positives and 10 negatives) of the share of the group a model flags,
where every model flags the same share of the test set as the training base rate (its own
score threshold), so a method cannot look fair by flagging nobody. Next to it: its noise
floor (the max - min of the same groups when the flags are shuffled across test rows, what a
model blind to the groups shows at these sizes) and the reduction of the part above it; and
the size-weighted gap |rate(group) - rate(rest)|. Reductions and AUROC loss are averaged over
logistic regression and gradient boosting.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from secured.bias import Resampling, Reweighing, SyntheticRebalancing, bias_report, model_report  # noqa: E402
from secured.data import load  # noqa: E402
from secured.synth import TVAE, GaussianCopula, TabDDPM, typed  # noqa: E402

DIABETES = ["race", "gender", "age", "admission_type_id", "discharge_disposition_id", "admission_source_id",
            "time_in_hospital", "num_lab_procedures", "num_procedures", "num_medications", "number_outpatient",
            "number_emergency", "number_inpatient", "number_diagnoses", "A1Cresult", "insulin", "change",
            "diabetesMed", "readmitted"]
BANDS = {"[0-10)": "<40", "[10-20)": "<40", "[20-30)": "<40", "[30-40)": "<40", "[40-50)": "40-60",
         "[50-60)": "40-60", "[60-70)": "60-80", "[70-80)": "60-80", "[80-90)": "80+", "[90-100)": "80+"}


def dataset(name: str):
    if name == "adult":
        df = typed(load("adult"), discrete=["salary-class"])
        return df, ["sex", "race"], "salary-class", ">50K"
    df = load("diabetes130")[DIABETES]
    df = df[df["gender"] != "Unknown/Invalid"].copy()
    df["age"] = df["age"].map(BANDS)
    df = typed(df, discrete=["admission_type_id", "discharge_disposition_id", "admission_source_id"])
    return df.reset_index(drop=True), ["race", "gender", "age"], "readmitted", "<30"


def speed(rows: int = 1_000_000) -> dict:
    from fairlearn.metrics import MetricFrame, selection_rate

    df, protected, target, positive = dataset("diabetes")
    big = df.sample(rows, replace=True, random_state=0).reset_index(drop=True)[protected + [target]]
    out = {"rows": rows}
    start = time.perf_counter()
    report = bias_report(big, protected, target, positive=positive)
    out["ours_s"] = time.perf_counter() - start
    out["ours_groupings"] = len(report.representation)
    y = (big[target] == positive).astype(int)
    start = time.perf_counter()
    for size in (1, 2, 3):   # fairlearn: one MetricFrame per grouping, same groupings as ours
        from itertools import combinations
        for cols in combinations(protected, size):
            MetricFrame(metrics={"selection_rate": selection_rate}, y_true=y, y_pred=y,
                        sensitive_features=big[list(cols)]).by_group
    out["fairlearn_s"] = time.perf_counter() - start
    start = time.perf_counter()
    bias_report(big, protected, target, positive=positive, n_boot=0)
    out["ours_no_bootstrap_s"] = time.perf_counter() - start
    return out


def learners():
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    return {"logistic regression": lambda: LogisticRegression(max_iter=2000, C=1.0),
            "gradient boosting": lambda: HistGradientBoostingClassifier(max_iter=200, random_state=0)}


def encoder(train: pd.DataFrame, features: list[str]):
    from sklearn.compose import make_column_transformer
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = [c for c in features if pd.api.types.is_numeric_dtype(train[c])]
    other = [c for c in features if c not in numeric]
    return make_column_transformer((OneHotEncoder(handle_unknown="ignore", sparse_output=False), other),
                                   (StandardScaler(), numeric))


def judge(train: pd.DataFrame, test: pd.DataFrame, protected, target, positive, weights=None) -> dict:
    """Both learners trained on ``train`` (with ``weights``), judged on the real ``test``."""
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import make_pipeline

    features = [c for c in test.columns if c != target]
    y_train = (train[target] == positive).to_numpy()
    y_test = (test[target] == positive).to_numpy()
    share = float(y_train.mean() if weights is None else np.average(y_train, weights=weights))
    out = {}
    for name, make in learners().items():
        model = make_pipeline(encoder(train, features), make())
        fit = {} if weights is None else {model.steps[-1][0] + "__sample_weight": np.asarray(weights)}
        model.fit(train[features], y_train, **fit)
        scores = model.predict_proba(test[features])[:, 1]
        threshold = float(np.quantile(scores, 1 - share))
        flagged = (scores > threshold).astype(float)
        report = model_report(None, test, target, protected, positive=positive, scores=flagged, threshold=0.5,
                              n_boot=200)
        finest = report["groupings"][" x ".join(protected)]
        worst = min((c for c in finest["cells"] if not c["suppressed"]), key=lambda c: c["true_positive_rate"])
        out[name] = {"auroc": float(roc_auc_score(y_test, scores)),
                     "spd": finest["demographic_parity_difference"]["value"],
                     "spd_ci": finest["demographic_parity_difference"]["ci"],
                     "spd_weighted": finest["weighted_parity_difference"],
                     "noise_floor": noise_floor(test, protected, finest, flagged),
                     "worst_recall_group": worst["group"], "worst_recall": worst["true_positive_rate"],
                     "worst_recall_ci": worst["tpr_ci"], "report": report}
    return out


def noise_floor(test: pd.DataFrame, protected, finest: dict, flagged: np.ndarray, draws: int = 200) -> float:
    """Mean max - min over the shown groups when the flags are shuffled across the test rows:
    the spread a model that ignores the groups would show at these group sizes."""
    shown = [c["group"] for c in finest["cells"] if not c["suppressed"]]
    key = test[protected].astype(str).agg("|".join, axis=1).to_numpy()
    index = {"|".join(map(str, g.values())): i for i, g in enumerate(shown)}
    code = np.array([index.get(k, -1) for k in key])
    keep = code >= 0
    code, n = code[keep], np.bincount(code[keep], minlength=len(shown))
    rng = np.random.default_rng(0)
    spreads = []
    for _ in range(draws):
        rates = np.bincount(code, weights=rng.permutation(flagged)[keep], minlength=len(shown)) / n
        spreads.append(rates.max() - rates.min())
    return float(np.mean(spreads))


def recall_of(result: dict, group: dict) -> tuple[float, list[float]]:
    finest = next(iter(reversed(result["report"]["groupings"].values())))
    cell = next(c for c in finest["cells"] if c["group"] == group)
    return cell.get("true_positive_rate", float("nan")), cell.get("tpr_ci", [float("nan")] * 2)


def generator(kind: str, seed: int = 0):
    if kind == "copula":
        return GaussianCopula(seed=seed)
    if kind == "tabddpm":
        return TabDDPM(seed=seed)
    return TVAE(seed=seed)


def mitigations(name: str, kind: str, seed: int = 0) -> dict:
    from sklearn.model_selection import train_test_split

    df, protected, target, positive = dataset(name)
    train, test = train_test_split(df, test_size=0.3, random_state=seed, stratify=df[target])
    train, test = train.reset_index(drop=True), test.reset_index(drop=True)
    rows = {}
    start = time.perf_counter()
    rows["none"] = {"result": judge(train, test, protected, target, positive), "seconds": 0.0}
    methods = {
        "reweigh": lambda: Reweighing(protected, target, positive=positive),
        "reweigh (strength 0.5)": lambda: Reweighing(protected, target, positive=positive, strength=0.5),
        "resample (uniform)": lambda: Resampling(protected, target, positive=positive, seed=seed),
        "resample (preferential)": lambda: Resampling(protected, target, positive=positive, method="preferential",
                                                      seed=seed),
        f"synthetic ({kind})": lambda: SyntheticRebalancing(generator(kind, seed), protected, target,
                                                            positive=positive, seed=seed),
    }
    for method, make in methods.items():
        start = time.perf_counter()
        mitigation = make()
        if method.startswith("reweigh"):
            weights = mitigation.fit_transform(train).to_numpy()
            seconds = time.perf_counter() - start
            result = judge(train, test, protected, target, positive, weights=weights)
        else:
            mitigated = mitigation.fit_resample(train)
            seconds = time.perf_counter() - start
            result = judge(mitigated, test, protected, target, positive)
        rows[method] = {"result": result, "seconds": seconds, "report": mitigation.report_}
        print(f"  {name} {method}: {seconds:.1f} s", file=sys.stderr, flush=True)
    base = rows["none"]["result"]
    for method, row in rows.items():
        per = row["result"]
        red = [1 - per[m]["spd"] / base[m]["spd"] for m in per]
        row["spd_excess_reduction"] = float(np.mean([
            1 - (per[m]["spd"] - per[m]["noise_floor"]) / (base[m]["spd"] - base[m]["noise_floor"]) for m in per]))
        row["spd_weighted_reduction"] = float(np.mean([1 - per[m]["spd_weighted"] / base[m]["spd_weighted"]
                                                       for m in per]))
        loss = [(base[m]["auroc"] - per[m]["auroc"]) * 100 for m in per]
        row["spd_reduction"] = float(np.mean(red))
        row["auroc_loss_points"] = float(np.mean(loss))
        worst = base["logistic regression"]["worst_recall_group"]
        row["worst_group"] = worst
        row["worst_recall"] = {m: recall_of(per[m], worst) for m in per}
    return {"dataset": name, "protected": protected, "rows_train": len(train), "rows_test": len(test),
            "methods": rows}


def print_table(result: dict) -> None:
    print(f"\n{result['dataset']} ({' x '.join(result['protected'])}; train {result['rows_train']:,}, "
          f"untouched real test {result['rows_test']:,})\n")
    print("| method | SPD max-min LR / GB (noise floor) | reduction (above the floor) | weighted SPD LR / GB | "
          "reduction | AUROC LR / GB | AUROC loss (points) | recall of the worst group (LR) | seconds |")
    print("|---|---|---:|---|---:|---|---:|---|---:|")
    for method, row in result["methods"].items():
        r = row["result"]
        lr, gb = r["logistic regression"], r["gradient boosting"]
        rec, ci = row["worst_recall"]["logistic regression"]
        print(f"| {method} | {lr['spd']:.3f} / {gb['spd']:.3f} ({lr['noise_floor']:.3f}) | "
              f"{row['spd_reduction'] * 100:.0f}% ({row['spd_excess_reduction'] * 100:.0f}%) | {lr['spd_weighted']:.3f} / {gb['spd_weighted']:.3f} | "
              f"{row['spd_weighted_reduction'] * 100:.0f}% | {lr['auroc']:.3f} / {gb['auroc']:.3f} | "
              f"{row['auroc_loss_points']:.2f} | {rec:.3f} [{ci[0]:.3f}, {ci[1]:.3f}] | {row['seconds']:.1f} |")
    worst = next(iter(result["methods"].values()))["worst_group"]
    print(f"\nworst-recall group of the unmitigated logistic regression: {worst}")
    for method, row in result["methods"].items():
        groups = row.get("report", {}).get("groups")
        if groups:
            smallest = sorted((g for g in groups if isinstance(g["real_rows"], int)), key=lambda g: g["real_rows"])[:6]
            print(f"\n{method}: {row['report']['synthetic_rows']:,} synthetic rows; smallest filled groups:")
            print("| group | real rows | synthetic rows | synthetic share | detection AUC |")
            print("|---|---:|---:|---:|---:|")
            for g in smallest:
                det = g.get("detection", {}).get("auroc")
                print(f"| {', '.join(map(str, g['group'].values()))} | {g['real_rows']} | {g['synthetic_rows']} | "
                      f"{g['synthetic_share']:.2f} | {det if det is None else round(det, 3)} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--datasets", default="adult,diabetes")
    ap.add_argument("--generator", default="tvae", choices=["copula", "tvae", "tabddpm"])
    ap.add_argument("--speed-only", action="store_true")
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--json")
    args = ap.parse_args()
    out = {"speed": speed(args.rows)}
    s = out["speed"]
    print(f"\ndataset report, {s['rows']:,} rows x 3 protected ({s['ours_groupings']} groupings, intervals, "
          f"suppression): ours {s['ours_s']:.2f} s ({s['ours_no_bootstrap_s']:.2f} s without bootstrap); fairlearn "
          f"MetricFrame, selection rate per grouping: {s['fairlearn_s']:.2f} s; ours is "
          f"{s['fairlearn_s'] / s['ours_s']:.1f}x fairlearn's speed")
    if not args.speed_only:
        out["mitigations"] = []
        for name in args.datasets.split(","):
            result = mitigations(name, args.generator)
            print_table(result)
            for row in result["methods"].values():
                for per in row["result"].values():
                    per.pop("report")
            out["mitigations"].append(result)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1, default=str))


if __name__ == "__main__":
    main()
