"""Longitudinal records on diabetes130 (encounters per patient, diag_1..3 as items, ICD-9
hierarchy), same run: the km check and the m-item attacks for m = 1..3 and how their time
grows with m and with rows; the (k, k^m) protection (share of patient-items kept at each
hierarchy level) and the utility of a readmission model trained on the release against the
original (baseline of every ratio: the same step on the original or on fewer rows).

    python benchmarks/bench_longitudinal.py [--rows 101766] [--k 5] [--m 2]
"""

import argparse
import functools
import time

from secured.data import load
from secured.privacy import Hierarchy
from secured.privacy.anonymizer import Anonymizer
from secured.privacy.longitudinal import PersonItems, item_attacks, km_anonymity, m_uniqueness
from secured.privacy.protect import split_control
from secured.privacy.utility import classification_utility

print = functools.partial(print, flush=True)  # noqa: A001
ITEMS = ["diag_1", "diag_2", "diag_3"]
QIS = ["age", "gender", "race"]


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=101_766)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--m", type=int, default=2)
    args = parser.parse_args()
    full = load("diabetes130")
    d = full.head(args.rows)

    print("## km check and m-uniqueness (no protection), by m and rows\n")
    print("| rows | patients | m | combinations of m items | km check | m-uniqueness (some m / random m) | s |")
    print("|---:|---:|---:|---:|---:|---|---:|")
    for rows in sorted({len(d) // 4, len(d) // 2, len(d)}):
        part = d.head(rows)
        view, s_view = timed(lambda: PersonItems.from_frame(part, "patient_nbr", ITEMS))
        for m in (1, 2, 3):
            (km, uniq), s = timed(lambda: (km_anonymity(view, args.k, m), m_uniqueness(view, m)))
            print(f"| {rows:,} | {view.n_people:,} | {m} | {km['by_size'][m]['combinations']:,} | "
                  f"{'holds' if km['holds'] else 'fails'} | {uniq['worst']:.3f} / {uniq['expected']:.3f} | "
                  f"{s + s_view:.2f} |")

    members, control = split_control(d[["patient_nbr", *QIS, *ITEMS, "time_in_hospital", "num_medications",
                                        "readmitted"]], 0.2, 0, "patient_nbr")
    H = {"age": Hierarchy.from_spec("age", "ordered:2,5", d["age"]),
         **{c: Hierarchy.from_spec(c, "flat", d[c]) for c in ("gender", "race")}}
    demographics = Anonymizer(k=args.k, quasi_identifiers=QIS, id_column="patient_nbr", hierarchies=H, keep="all")
    release_demo, s_demo = timed(lambda: demographics.fit_transform(members))

    print(f"\n## attacks, demographics generalized to k = {args.k} people, items as they are\n")
    print("| m | singling-out | linkability | membership advantage | s (2,000 + 2,000 targets) |")
    print("|---:|---|---|---|---:|")
    for m in (1, 2, 3):
        res, s = timed(lambda: item_attacks(members, release_demo, control, id_column="patient_nbr", items=ITEMS,
                                            quasi_identifiers=QIS, m=m, n_attacks=2000,
                                            generalize=lambda f: demographics.transform(f, direct_identifiers=False)))
        cells = " | ".join(f"{r.risk.value:.3f} [{r.risk.ci[0]:.3f}, {r.risk.ci[1]:.3f}]" for r in res)
        print(f"| {m} | {cells} | {s:.1f} |")

    protected = demographics.clone(items=ITEMS, m=args.m)
    release, s_protect = timed(lambda: protected.fit_transform(members))
    items = protected.report_["items"]
    print(f"\n## (k, k^m) = ({args.k}, {args.k}^{args.m}) protection: {s_protect:.1f} s "
          f"(demographics alone {s_demo:.1f} s -> {s_protect / s_demo:.1f}x)\n")
    print("| item level | patient-items kept | loss | within the 10% suppression budget |")
    print("|---:|---:|---:|:---:|")
    for level in items["levels"]:
        mark = " (chosen)" if level["level"] == items["level"] else ""
        print(f"| {level['level']}{mark} | {level['kept_share']:.1%} | {level['loss']:.3f} | "
              f"{'yes' if level['within_budget'] else 'no'} |")
    print(f"\nkm check on the release: {'holds' if items['km']['holds'] else 'FAILS'}")
    res = item_attacks(members, release, control, id_column="patient_nbr", items=ITEMS, quasi_identifiers=QIS,
                       m=args.m, n_attacks=2000, generalize=lambda f: protected.transform(f, direct_identifiers=False))
    print("after protection: " + "; ".join(f"{r.attack} {r.risk.value:.3f} [{r.risk.ci[0]:.3f}, {r.risk.ci[1]:.3f}]"
                                            for r in res))
    table = members.drop(columns=[])
    table["readmitted_30"] = (table["readmitted"] == "<30").map({True: "yes", False: "no"})
    table = table.drop(columns=["readmitted"])
    util, s_util = timed(lambda: classification_utility(table, "readmitted_30", protected.clone(utility=False)))
    print(f"\n## readmission (<30 days) model, trained on the release vs the original ({s_util:.1f} s)\n")
    print(f"AUROC {util['auroc']:.3f} vs {util['auroc_original']:.3f} original; balanced accuracy "
          f"{util['balanced_accuracy']:.3f} vs {util['balanced_accuracy_original']:.3f} (0.5 threshold); AUROC "
          f"signal kept {util.get('relative_auroc', float('nan')):.2f}; test patients unseen in training "
          f"(split {util['split']})")
