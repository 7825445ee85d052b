"""The protect loop on real tables, same run: iterations, the published release's numbers,
and the loop's time against one anonymization plus one assessment of the chosen setting
(the baseline: what a steward who guessed the right setting first would pay).

1. NIST CRC 2019 (27,253 people) with the 2018 excerpt as control: every row can be published.
2. diabetes130 (101,766 encounters, 71,518 patients counted once), 20% of the patients held
   out as control (not published).
3. A rare secret (4,000 Adult rows, a derived 5%-positive 'stroke'): the threshold 0.05 is
   refused before anything is anonymized, with the smallest threshold that can be certified.

    python benchmarks/bench_protect.py [--skip-diabetes]
"""

import argparse
import functools
import time

import numpy as np

from secured.data import load
from secured.privacy import Hierarchy
from secured.privacy.anonymizer import Anonymizer
from secured.privacy.protect import Protector, assess, split_control

print = functools.partial(print, flush=True)  # noqa: A001


def run(name, df, template, sensitive, control=None, **options):
    start = time.perf_counter()
    p = Protector(template, sensitive=sensitive, **options).fit(df, control)
    loop = time.perf_counter() - start
    r = p.report_
    print(f"\n## {name}: {len(df):,} rows, max_risk {p.max_risk:g}, control {r['control']['control']} "
          f"({r['control']['control_rows']:,} rows)\n")
    print("| # | settings | k achieved | highest upper bound (attack) | its estimate | targets/controls | loss | pass |")
    print("|---:|---|---:|---|---:|---:|---:|:---:|")
    for it in r["iterations"]:
        if "risks" not in it:
            print(f"| {it['iteration']} | {it['settings']} | - | skipped | | | | |")
            continue
        s = ", ".join(f"{k}={v}" for k, v in it["settings"].items())
        est = it["risks"][it["riskiest"]]["value"]
        print(f"| {it['iteration']} | {s} | {it['k_achieved']} | {it['max_risk_upper']:.4f} ({it['riskiest']}) | "
              f"{est:.4f} | {it['targets']}/{it['controls']} | {it['utility']['loss']:.3f} | "
              f"{'yes' if it['passed'] else 'no'} |")
    if not r["passed"]:
        print(f"\nno release: {r['message']}\n(loop {loop:.1f} s)")
        return
    chosen = r["chosen"]
    once_start = time.perf_counter()
    anon = p.anonymizer_.clone()
    if control is None:
        members, ctl = split_control(df, options.get("control_fraction", 0.2), options.get("seed", 0),
                                     template.id_column)
    else:
        members, ctl = df, control
    release = anon.fit_transform(members)
    assess(members, release, ctl, list(template.quasi_identifiers), sensitive, anonymizer=anon,
           id_column=template.id_column, n_attacks=options.get("n_attacks", 2000), n_singling=300)
    once = time.perf_counter() - once_start
    pub = r["published"]
    print(f"\npublished iteration {r['chosen_iteration']} ({chosen}): {pub['rows']:,} rows, k = {r['release']['k']}, "
          f"loss {r['release']['utility']['loss']:.3f}, highest upper bound {r['assessment']['max_risk_upper']:.4f}; "
          f"{pub['held_out_control_rows_not_published']:,} control rows held out\n"
          f"loop {loop:.1f} s vs one anonymize + assess of the chosen setting {once:.1f} s -> {loop / once:.1f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-diabetes", action="store_true")
    args = parser.parse_args()

    n19, n18 = load("nist2019"), load("nist2018")
    qis = ["PUMA", "AGEP", "SEX", "RAC1P", "MSP"]
    H = {"PUMA": Hierarchy.from_spec("PUMA", "prefix:2", n19["PUMA"]),
         "AGEP": Hierarchy.from_spec("AGEP", "intervals:5,10,20,40", np.concatenate([n19["AGEP"], n18["AGEP"]])),
         **{c: Hierarchy.from_spec(c, "flat", np.concatenate([n19[c], n18[c]])) for c in ("SEX", "RAC1P", "MSP")}}
    template = Anonymizer(k=2, quasi_identifiers=qis, hierarchies=H, numeric=["AGEP"], keep="all")
    run("NIST CRC 2019, 2018 as control", n19, template, ["INDP_CAT"], control=n18, max_risk=0.05)

    if not args.skip_diabetes:
        d = load("diabetes130")
        qis = ["age", "gender", "race", "diag_1", "admission_source_id"]
        H = {"age": Hierarchy.from_spec("age", "ordered:2,5", d["age"]), "diag_1": Hierarchy.icd9("diag_1", d["diag_1"]),
             **{c: Hierarchy.from_spec(c, "flat", d[c]) for c in ("gender", "race", "admission_source_id")}}
        template = Anonymizer(k=2, quasi_identifiers=qis, hierarchies=H, id_column="patient_nbr",
                              pseudonymize=["patient_nbr"], drop=["encounter_id"], keep="all")
        run("diabetes130, patients counted once", d, template, ["readmitted"], max_risk=0.05)

    df = load("adult").head(4000).copy()
    rng = np.random.default_rng(3)
    df["stroke"] = np.where(rng.random(len(df)) < np.where(df["age"].astype(int) >= 55, 0.12, 0.035), "yes", "no")
    df = df[["age", "sex", "race", "marital-status", "stroke"]]
    template = Anonymizer(k=2, quasi_identifiers=["age", "sex", "race", "marital-status"])
    run("rare secret (5% positives), threshold 0.05", df, template, ["stroke"], max_risk=0.05, n_attacks=1000,
        max_attacks=4000)
    p = Protector(template, sensitive=["stroke"], max_risk=0.05, n_attacks=1000, max_attacks=4000).fit(df)
    threshold = round(p.report_["smallest_certifiable_threshold"] * 1.3 + 0.01, 2)
    run(f"rare secret, threshold {threshold:g} (above the smallest certifiable)", df, template, ["stroke"],
        max_risk=threshold, n_attacks=1000, max_attacks=4000)
