"""Longitudinal records: people with many rows and items. The km / (k, k^m) check and
m-uniqueness against plain-Python recomputation from the release alone, attacks that find
planted patients, protection that passes, l and t counted per person, bad input."""

from __future__ import annotations

import itertools
import math
from collections import Counter, defaultdict

import numpy as np
import pandas as pd
import pytest

from secured.data import load
from secured.exceptions import BadInputError, ConfigurationError
from secured.privacy import Hierarchy
from secured.privacy.anonymizer import Anonymizer
from secured.privacy.longitudinal import PersonItems, item_attacks, km_anonymity, m_uniqueness
from secured.privacy.models import check_l_diversity, check_t_closeness
from secured.privacy.protect import assess, split_control

ITEMS = ["dx1", "dx2", "dx3"]
QIS = ["age", "sex"]


def generate(patients: int = 3000, planted: int = 20, seed: int = 7) -> pd.DataFrame:
    """Patients with 1-4 encounters, 3 diagnosis codes each from a skewed ICD-9-like pool;
    ``planted`` patients hold a pair of codes nobody else has."""
    rng = np.random.default_rng(seed)
    chapters = [250, 401, 428, 414, 786, 599, 486, 427, 496, 780]
    pool = [f"{c}.{d}" for c in chapters for d in range(10)]
    weights = np.array([1.0 / (1 + i) for i in range(len(pool))])
    weights /= weights.sum()
    rows = []
    for p in range(patients):
        age, sex = f"[{10 * int(rng.integers(3, 9))}-{10 * int(rng.integers(3, 9)) + 10})", rng.choice(["F", "M"])
        for _ in range(int(rng.integers(1, 5))):
            codes = rng.choice(pool, 3, p=weights)
            rows.append({"pid": f"p{p}", "age": age, "sex": sex, "dx1": codes[0], "dx2": codes[1], "dx3": codes[2],
                         "died": rng.choice(["yes", "no"], p=[0.1, 0.9])})
    for q in range(planted):
        rows.append({"pid": f"planted{q}", "age": "[50-60)", "sex": "F", "dx1": f"996.{q % 10}", "dx2": f"997.{q}",
                     "dx3": "250.1", "died": "no"})
    return pd.DataFrame(rows)


def reference_km(release: pd.DataFrame, k: int, m: int, classes: list[str] | None) -> bool:
    """Independent (k, k^m) check: per class, every j-combination (j <= m) of a person's items
    held by at least k distinct people."""
    held: dict = defaultdict(set)
    sets: dict = defaultdict(set)
    person_classes: dict = defaultdict(set)
    for row in release.itertuples(index=False):
        row = row._asdict()
        for c in ITEMS:
            if isinstance(row[c], str) and row[c] != "*":
                sets[row["pid"]].add(row[c])
        person_classes[row["pid"]].add(tuple(row[c] for c in classes) if classes else ())
    for person, items in sets.items():
        for klass in person_classes[person]:
            for j in range(1, m + 1):
                for combo in itertools.combinations(sorted(items), j):
                    held[(klass, combo)].add(person)
    return all(len(people) >= k for people in held.values())


def test_km_check_and_uniqueness_agree_with_plain_python():
    df = generate(600, planted=5)
    view = PersonItems.from_frame(df, "pid", ITEMS)
    for m in (1, 2, 3):
        for k in (2, 5):
            assert km_anonymity(view, k, m)["holds"] == reference_km(df, k, m, None)
    # m-uniqueness: share of people with some m of their items that nobody else holds
    sets = df.melt(id_vars=["pid"], value_vars=ITEMS).groupby("pid")["value"].apply(set)
    for m in (1, 2):
        support = Counter(c for s in sets for j in (m,) for c in itertools.combinations(sorted(s), min(j, len(s))))
        worst = np.mean([any(support[c] == 1 for c in itertools.combinations(sorted(s), min(m, len(s))))
                         for s in sets])
        assert m_uniqueness(view, m)["worst"] == pytest.approx(worst)
    assert m_uniqueness(view, 2)["worst"] >= 5 / len(sets)   # the planted people at least


def test_attacks_find_planted_patients_and_protection_stops_them():
    df = generate()
    members, control = split_control(df, 0.25, 0, "pid")
    planted = members[members["pid"].str.startswith("planted")]
    assert planted["pid"].nunique() >= 10
    # demographics generalized to person-level k = 5, items as they are: the planted pair gives them away
    anon = Anonymizer(k=5, quasi_identifiers=QIS, id_column="pid", keep="all",
                      hierarchies={"age": Hierarchy.from_spec("age", "flat", df["age"]),
                                   "sex": Hierarchy.from_spec("sex", "flat", df["sex"])})
    release = anon.fit_transform(members)
    generalize = lambda f: anon.transform(f, direct_identifiers=False)  # noqa: E731
    found = item_attacks(planted, release, control, id_column="pid", items=ITEMS, quasi_identifiers=QIS, m=2,
                         n_attacks=500, generalize=generalize)
    by_name = {r.attack: r for r in found}
    assert by_name["singling_out_items_m2"].attack_rate.value > 0.5     # most planted ones singled out
    before = {r.attack: r for r in item_attacks(members, release, control, id_column="pid", items=ITEMS,
                                                quasi_identifiers=QIS, m=2, n_attacks=800, generalize=generalize)}
    assert before["singling_out_items_m2"].risk.value > 0.05
    # (k, k^m) protection on top of the demographics
    protected = Anonymizer(k=5, quasi_identifiers=QIS, id_column="pid", keep="all", items=ITEMS, m=2,
                           hierarchies=anon.hierarchies)
    out = protected.fit_transform(members)
    assert protected.report_["items"]["km"]["holds"]
    assert reference_km(out, 5, 2, QIS)                                # recomputed from the release alone
    report = assess(members, out, control, QIS, anonymizer=protected, id_column="pid", n_attacks=800)
    for name in ("singling_out_items_m2", "linkability_items_m2"):
        assert report["risks"][name]["risk"]["ci"][1] < 0.05, name
    # the release keeps most items, generalized: the report says how much at each level
    levels = protected.report_["items"]["levels"]
    assert any(level["within_budget"] for level in levels) and all(0 <= x["kept_share"] <= 1 for x in levels)


def test_l_and_t_count_each_person_once():
    # person A has 9 rows of 'no', person B one row of 'yes': rows say two values half the time...
    rows = [{"pid": "A", "g": "x", "died": "no"}] * 9 + [{"pid": "B", "g": "x", "died": "yes"}] + \
           [{"pid": f"C{i}", "g": "x", "died": "no"} for i in range(2)] + \
           [{"pid": "D", "g": "y", "died": "yes"}, {"pid": "D", "g": "y", "died": "no"},
            {"pid": "E", "g": "y", "died": "no"}]
    t = pd.DataFrame(rows)
    # by hand, per person: class x = {A: no, B: yes, C0: no, C1: no} -> yes 1, no 3;
    # class y = {D: yes/no (1/2 each), E: no} -> yes 0.5, no 1.5
    px = np.array([1 / 4, 3 / 4])
    py = np.array([0.5 / 2, 1.5 / 2])
    entropy_l = min(math.exp(-(p * np.log(p)).sum()) for p in (px, py))
    assert check_l_diversity(t, ["g"], "died", "entropy", id_column="pid") == pytest.approx(entropy_l)
    # overall, each person once: yes = B + D/2 = 1.5, no = A + C0 + C1 + D/2 + E = 4.5
    q = np.array([1.5 / 6, 4.5 / 6])
    t_ref = max(0.5 * np.abs(p - q).sum() for p in (px, py))
    assert check_t_closeness(t, ["g"], "died", id_column="pid") == pytest.approx(t_ref)
    rows_t = check_t_closeness(t, ["g"], "died")
    assert rows_t != pytest.approx(t_ref)                               # counting rows gives another answer
    anon = Anonymizer(k=2, quasi_identifiers=["g"], id_column="pid", sensitive="died", keep="all",
                      hierarchies={"g": Hierarchy.from_spec("g", "flat", t["g"])})
    anon.fit_transform(t)
    assert anon.report_["t"] == pytest.approx(t_ref) and "per person" in anon.report_["sensitive_counted"]


def test_diabetes_items_fast_enough_to_check():
    d = load("diabetes130")
    view = PersonItems.from_frame(d, "patient_nbr", ["diag_1", "diag_2", "diag_3"])
    assert view.n_people == d["patient_nbr"].nunique()
    result = km_anonymity(view, 5, 3)
    assert not result["holds"] and result["by_size"][3]["combinations"] > 300_000


def test_bad_input_names_the_column_never_a_value():
    df = generate(50, planted=0)
    with pytest.raises(ConfigurationError, match="id column"):
        Anonymizer(k=2, quasi_identifiers=QIS, items=ITEMS, m=2).fit_transform(df)
    with pytest.raises(ConfigurationError, match="'m'"):
        Anonymizer(k=2, quasi_identifiers=QIS, id_column="pid", items=ITEMS, m=0).fit_transform(df)
    with pytest.raises(BadInputError, match="'dx9'"):
        Anonymizer(k=2, quasi_identifiers=QIS, id_column="pid", items=["dx9"], m=1).fit_transform(df)
    narrow = Hierarchy.icd9("items", df["dx1"])          # misses codes that only appear in dx2/dx3
    odd = df.copy()
    odd.loc[3, "dx2"] = "ZZZ-SECRET"
    with pytest.raises(ConfigurationError) as err:
        Anonymizer(k=2, quasi_identifiers=QIS, id_column="pid", items=ITEMS, m=1, item_hierarchy=narrow,
                   keep="all").fit_transform(odd)
    assert "ZZZ-SECRET" not in str(err.value) and "column 'dx2'" in str(err.value)


def test_icd10_hierarchy_follows_the_published_chapters():
    codes = pd.Series(["E11.65", "E11.9", "I21.0", "j45", "C50.912", "D49", "D50.0", "Z99", "U07.1", "?", "D95",
                       "O9A.1", "O99.1"])
    h = Hierarchy.icd10("dx", codes)
    # code -> 3-character category -> chapter (ICD-10 chapter ranges, WHO's widened to ICD-10-CM's:
    # neoplasms end at D49 there) -> *; a code in a gap between chapters still leaves its category
    expected = {"E11.65": ("E11", "E00-E90"), "E11.9": ("E11", "E00-E90"), "I21.0": ("I21", "I00-I99"),
                "j45": ("J45", "J00-J99"), "C50.912": ("C50", "C00-D49"), "D49": ("D49", "C00-D49"),
                "D50.0": ("D50", "D50-D89"), "Z99": ("Z99", "Z00-Z99"), "U07.1": ("U07", "U00-U99"), "?": ("?", "?"),
                "D95": ("D95", "D00-D99"), "O9A.1": ("O9A", "O00-O9A"), "O99.1": ("O99", "O00-O9A")}
    for code, (category, chapter) in expected.items():
        assert list(h.table.loc[code]) == [code, category, chapter, "*"], code
    # diabetes codes generalized to a chapter share it; the km check sees the coarser items
    df = pd.DataFrame({"pid": ["a", "b", "c", "d"], "sex": ["F"] * 4, "dx1": ["E11.65", "E11.9", "E10.1", "E14"],
                       "dx2": ["I21.0", "I21.9", "I22", "I25.1"]})
    anon = Anonymizer(k=2, quasi_identifiers=["sex"], id_column="pid", items=["dx1", "dx2"], m=2, keep="all",
                      hierarchies={"sex": Hierarchy.from_spec("sex", "flat", df["sex"])},
                      item_hierarchy=Hierarchy.icd10("items", pd.concat([df["dx1"], df["dx2"]])))
    release = anon.fit_transform(df)
    assert anon.report_["items"]["km"]["holds"]
    assert set(release["dx1"]) <= {"E10", "E11", "E14", "E00-E90", "*"}


def generate_dated(patients: int = 2500, seed: int = 3) -> pd.DataFrame:
    """Patients with 1-4 admissions in 2018-2019, three codes each from 20 common ones: the
    codes alone are shared widely, the exact admission dates single people out."""
    rng = np.random.default_rng(seed)
    pool = [f"{c}.{d}" for c in (250, 401, 428, 414) for d in range(5)]
    days = pd.date_range("2018-01-01", "2019-12-31", freq="D")
    rows = []
    for p in range(patients):
        sex = rng.choice(["F", "M"])
        for _ in range(int(rng.integers(1, 5))):
            codes = rng.choice(pool, 3, replace=False)
            rows.append({"pid": f"p{p}", "sex": sex, "dx1": codes[0], "dx2": codes[1], "dx3": codes[2],
                         "admitted": days[int(rng.integers(len(days)))].strftime("%Y-%m-%d")})
    return pd.DataFrame(rows)


def reference_km_dated(release: pd.DataFrame, k: int, m: int, date_column: str, classes: list[str]) -> bool:
    """Independent (k, k^m) with dated items: an item is (code, released date label)."""
    held: dict = defaultdict(set)
    sets: dict = defaultdict(set)
    person_classes: dict = defaultdict(set)
    for row in release.to_dict("records"):
        when = row[date_column]
        for c in ITEMS:
            if isinstance(row[c], str) and row[c] != "*":
                sets[row["pid"]].add((row[c], when) if isinstance(when, str) and when != "*" else (row[c],))
        person_classes[row["pid"]].add(tuple(row[c] for c in classes))
    for person, items in sets.items():
        for klass in person_classes[person]:
            for j in range(1, m + 1):
                for combo in itertools.combinations(sorted(items), j):
                    held[(klass, combo)].add(person)
    return all(len(people) >= k for people in held.values())


def test_dated_items_attacked_and_coarsened_until_km_holds():
    df = generate_dated()
    dates = {c: "admitted" for c in ITEMS}
    members, control = split_control(df, 0.25, 0, "pid")
    flat = {"sex": Hierarchy.from_spec("sex", "flat", df["sex"])}
    plain = Anonymizer(k=5, quasi_identifiers=["sex"], id_column="pid", keep="all", hierarchies=flat)
    release = plain.fit_transform(members)
    gen = lambda f: plain.transform(f, direct_identifiers=False)  # noqa: E731
    kw = dict(id_column="pid", items=ITEMS, quasi_identifiers=["sex"], m=2, n_attacks=600, generalize=gen)
    codes_only = {r.attack: r for r in item_attacks(members, release, control, **kw)}
    dated = {r.attack: r for r in item_attacks(members, release, control, dates=dates, **kw)}
    yearly = {r.attack: r for r in item_attacks(members, release, control, dates=dates, attacker_precision="year",
                                                **kw)}
    # exact dates single out nearly everyone; codes alone far fewer; a year's precision in between
    assert dated["singling_out_items_m2"].risk.value > 0.8
    assert codes_only["singling_out_items_m2"].risk.value < dated["singling_out_items_m2"].risk.value - 0.3
    assert yearly["singling_out_items_m2"].details["dates_matched_at"] == "year"
    assert "dated to the day" in dated["singling_out_items_m2"].details["knows"]
    # protection searches the date precision (and code level) for the least loss meeting (k, k^m)
    protected = Anonymizer(k=5, quasi_identifiers=["sex"], id_column="pid", keep="all", hierarchies=flat,
                           items=ITEMS, m=2, item_dates=dates, max_item_suppression=0.2)
    out = protected.fit_transform(members)
    chosen = protected.report_["items"]["date_precision"]
    assert chosen in ("month", "quarter", "year", "none")
    assert reference_km_dated(out, 5, 2, "admitted", ["sex"])            # from the release alone
    assert not reference_km_dated(members, 5, 2, "admitted", ["sex"])
    labels = out["admitted"].dropna()
    assert chosen == "none" or labels.str.fullmatch({"month": r"\d{4}-\d{2}", "quarter": r"\d{4}Q\d",
                                                     "year": r"\d{4}"}[chosen]).all()
    report = assess(members, out, control, ["sex"], anonymizer=protected, id_column="pid", n_attacks=600)
    assert report["settings"]["item_dates"] == dates
    for name in ("singling_out_items_m2", "linkability_items_m2"):
        assert report["risks"][name]["risk"]["ci"][1] < 0.05, name
    # the recoding keeps the precision: a restored anonymizer generalizes targets the same way
    again = Anonymizer.from_recoding(protected.recoding())
    assert again.items_.precision_ == chosen
    assert again.transform(control, direct_identifiers=False)["admitted"].equals(
        protected.transform(control, direct_identifiers=False)["admitted"])


def test_dates_that_do_not_parse_are_refused_by_column():
    df = generate_dated(40)
    df.loc[5, "admitted"] = "SECRET-not-a-date"
    with pytest.raises(BadInputError) as err:
        Anonymizer(k=2, quasi_identifiers=["sex"], id_column="pid", items=ITEMS, m=1, keep="all",
                   item_dates={c: "admitted" for c in ITEMS}).fit_transform(df)
    assert "'admitted'" in str(err.value) and "SECRET" not in str(err.value)
    with pytest.raises(ConfigurationError, match="not item columns"):
        Anonymizer(k=2, quasi_identifiers=["sex"], id_column="pid", items=ITEMS, m=1,
                   item_dates={"sex": "admitted"}).fit_transform(df)
    with pytest.raises(ConfigurationError, match="date_precision"):
        Anonymizer(k=2, quasi_identifiers=["sex"], id_column="pid", items=ITEMS, m=1, date_precision="week",
                   item_dates={c: "admitted" for c in ITEMS}).fit_transform(df)


def test_cli_dated_items_anonymize_then_assess(tmp_path):
    import json

    from typer.testing import CliRunner

    from secured.cli.main import app

    df = generate_dated(1500)
    members, control = split_control(df, 0.25, 0, "pid")
    src, ctl = tmp_path / "members.csv", tmp_path / "control.csv"
    members.to_csv(src, index=False)
    control.to_csv(ctl, index=False)
    out, report, rec = tmp_path / "release.csv", tmp_path / "report.json", tmp_path / "rec.json"
    items = "dx1:admitted,dx2:admitted,dx3:admitted"
    runner = CliRunner()
    result = runner.invoke(app, ["anonymize", str(src), "--quasi-identifiers", "sex", "--hierarchy", "sex=flat",
                                 "--id-column", "pid", "--k", "5", "--items", items, "--m", "2",
                                 "--max-item-suppression", "0.2", "--keep", "all", "--out", str(out),
                                 "--report", str(report), "--recoding", str(rec)])
    assert result.exit_code == 0, result.output
    rep = json.loads(report.read_text())["items"]
    release = pd.read_csv(out, dtype=str)
    assert rep["dates"] == {c: "admitted" for c in ITEMS} and rep["km"]["holds"]
    assert reference_km_dated(release, 5, 2, "admitted", ["sex"])
    assessed = tmp_path / "assessed.json"
    result = runner.invoke(app, ["assess", str(src), str(out), "--control", str(ctl), "--quasi-identifiers", "sex",
                                 "--id-column", "pid", "--items", items, "--m", "2", "--recoding", str(rec),
                                 "--attacker-date-precision", "month", "--n-attacks", "300", "--out", str(assessed)])
    assert result.exit_code == 0, result.output
    risks = json.loads(assessed.read_text())["risks"]
    assert risks["singling_out_items_m2"]["details"]["dates_matched_at"] == rep["date_precision"]
    assert risks["singling_out_items_m2"]["risk"]["ci"][1] < 0.1
    # a bad --items entry and --date-precision without dates: clean errors
    bad = runner.invoke(app, ["anonymize", str(src), "--quasi-identifiers", "sex", "--id-column", "pid",
                              "--items", "dx1:", "--out", str(tmp_path / "x.csv")])
    assert bad.exit_code != 0 and "CODE:DATE" in bad.output and "Traceback" not in bad.output
    bad = runner.invoke(app, ["anonymize", str(src), "--quasi-identifiers", "sex", "--id-column", "pid",
                              "--items", "dx1", "--date-precision", "year", "--out", str(tmp_path / "x.csv")])
    assert bad.exit_code != 0 and "dated items" in bad.output


def test_cli_protect_strengthens_until_item_attacks_pass(tmp_path):
    """protect with items: k grows until (k, k^m) and the m-item attacks' upper bounds pass;
    the published file is what was attacked, recomputed km holds, the HTML shows the curve."""
    import json

    from typer.testing import CliRunner

    from secured.cli.main import app

    df = generate(2500, planted=15)
    src = tmp_path / "in.csv"
    df.to_csv(src, index=False)
    out, report, page = tmp_path / "out.csv", tmp_path / "report.json", tmp_path / "r.html"
    result = CliRunner().invoke(app, [
        "protect", str(src), "--quasi-identifiers", "age,sex", "--hierarchy", "age=flat", "--hierarchy", "sex=flat",
        "--id-column", "pid", "--items", ",".join(ITEMS), "--m", "2", "--max-risk", "0.1", "--k-values", "2,5",
        "--methods", "optimal", "--keep", "all", "--n-attacks", "400", "--max-attacks", "400", "--n-singling", "50",
        "--out", str(out), "--report", str(report), "--html", str(page)])
    assert result.exit_code == 0, result.output
    rep = json.loads(report.read_text())
    assert rep["passed"]
    last = [it for it in rep["iterations"] if it.get("passed")][-1]
    assert {"singling_out_items_m2", "linkability_items_m2", "membership_items_m2"} <= set(last["risks"])
    assert all(r["ci"][1] < 0.1 for r in last["risks"].values())
    release = pd.read_csv(out, dtype=str)
    k = rep["chosen"]["k"]
    assert reference_km(release, k, 2, QIS)
    assert "m known items" in page.read_text()
