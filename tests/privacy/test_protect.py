"""The protect loop publishes what it attacked, says up front what it cannot certify, and
stops a release that keeps identifying columns nobody declared; labels contain their values."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from secured.cli.main import app
from secured.data import load
from secured.exceptions import BadInputError
from secured.io import file_sha256
from secured.privacy import Hierarchy
from secured.privacy.anonymizer import Anonymizer
from secured.privacy.attacks import _coverage
from secured.privacy.hierarchy import auto_hierarchy
from secured.privacy.protect import Protector, assess

runner = CliRunner()
QIS = ["age", "sex", "race", "marital-status", "education"]


def _plain_k(release: pd.DataFrame, qis: list[str]) -> int:
    counts: dict = {}
    for key in release[qis].astype(str).itertuples(index=False):
        counts[key] = counts.get(key, 0) + 1
    return min(counts.values())


@pytest.fixture(scope="module")
def adult_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("protect") / "adult.csv"
    load("adult").head(6000).to_csv(path, index=False)
    return path


@pytest.mark.parametrize("methods", ["optimal", "mondrian"])
def test_assess_reproduces_the_published_release(tmp_path, adult_csv, methods):
    out, rep, rec = tmp_path / "release.csv", tmp_path / "report.json", tmp_path / "report.recoding.json"
    result = runner.invoke(app, ["protect", str(adult_csv), "--quasi-identifiers", ",".join(QIS), "--sensitive",
                                 "salary-class", "--max-risk", "0.2", "--methods", methods, "--k-values", "2,5,10",
                                 "--n-attacks", "1000", "--max-attacks", "1000", "--n-singling", "100",
                                 "--keep", "all", "--out", str(out), "--report", str(rep), "--html",
                                 str(tmp_path / "r.html")])
    assert result.exit_code == 0, result.output
    report = json.loads(rep.read_text())
    assert rec.exists() and report["passed"]
    release = pd.read_csv(out, dtype=str, keep_default_na=False)
    # the published file is the attacked one: its rows, its hash, its k
    assert len(release) == report["published"]["rows"] == report["release"]["rows_out"]
    assert report["published"]["sha256"] == file_sha256(out)
    assert report["published"]["held_out_control_rows_not_published"] == 1200
    assert _plain_k(release, QIS) == report["release"]["k"] >= report["chosen"]["k"]
    # `secured assess` from the files protect wrote gives the report's numbers
    again = tmp_path / "again.json"
    result = runner.invoke(app, ["assess", str(adult_csv), str(out), "--recoding", str(rec), "--out", str(again)])
    assert result.exit_code == 0, result.output
    redo = json.loads(again.read_text())
    assert redo["risks"].keys() == report["assessment"]["risks"].keys()
    for name, r in report["assessment"]["risks"].items():
        assert redo["risks"][name]["risk"] == r["risk"], name
        assert redo["risks"][name]["successes"] == r["successes"], name
    assert redo["max_risk_upper"] == report["assessment"]["max_risk_upper"]
    assert redo["release"]["k"] == report["release"]["k"]
    assert redo["release"]["utility"]["loss"] == report["release"]["utility"]["loss"]
    assert redo["release"]["sha256"] == report["published"]["sha256"]
    html = (tmp_path / "r.html").read_text()
    assert "The published table" in html and "{'" not in html and "k = " in html
    # a different original is refused, as is an altered release
    other = tmp_path / "other.csv"
    load("adult").iloc[6000:12000].to_csv(other, index=False)
    result = runner.invoke(app, ["assess", str(other), str(out), "--recoding", str(rec), "--out", str(again)])
    assert result.exit_code == 2 and "not the one this recoding was made from" in result.output


def test_given_control_publishes_every_row(tmp_path):
    df = load("adult")
    src, ctl = tmp_path / "a.parquet", tmp_path / "c.parquet"
    df.head(5000).to_parquet(src)
    df.iloc[5000:7000].to_parquet(ctl)
    out, rep = tmp_path / "r.parquet", tmp_path / "r.json"
    result = runner.invoke(app, ["protect", str(src), "--quasi-identifiers", "age,sex,race", "--control", str(ctl),
                                 "--max-risk", "0.1", "--methods", "optimal", "--k-values", "5,10", "--n-attacks",
                                 "400", "--n-singling", "100", "--keep", "all", "--out", str(out), "--report",
                                 str(rep)])
    assert result.exit_code == 0, result.output
    report = json.loads(rep.read_text())
    assert report["published"]["rows"] == len(pd.read_parquet(out)) == 5000 - report["release"]["suppressed"]
    redo = tmp_path / "again.json"
    result = runner.invoke(app, ["assess", str(src), str(out), "--recoding", str(tmp_path / "r.recoding.json"),
                                 "--out", str(redo)])
    assert result.exit_code == 2 and "--control" in result.output
    result = runner.invoke(app, ["assess", str(src), str(out), "--recoding", str(tmp_path / "r.recoding.json"),
                                 "--control", str(ctl), "--out", str(redo)])
    assert result.exit_code == 0, result.output
    again = json.loads(redo.read_text())["risks"]
    for name, r in report["assessment"]["risks"].items():
        assert {k: v for k, v in again[name].items() if k != "seconds"} == \
            {k: v for k, v in r.items() if k != "seconds"}, name


def _rare_secret_table(rows: int = 4000) -> pd.DataFrame:
    df = load("adult").head(rows).copy()
    rng = np.random.default_rng(3)
    older = df["age"].astype(int) >= 55
    df["stroke"] = np.where(rng.random(rows) < np.where(older, 0.12, 0.035), "yes", "no")
    return df[["age", "sex", "race", "marital-status", "stroke"]]


def test_rare_secret_threshold_that_cannot_be_certified_is_refused_up_front(tmp_path):
    df = _rare_secret_table()
    assert 0.03 < (df["stroke"] == "yes").mean() < 0.07
    template = Anonymizer(k=2, quasi_identifiers=["age", "sex", "race", "marital-status"])
    p = Protector(template, sensitive=["stroke"], max_risk=0.05, n_attacks=1000, max_attacks=4000).fit(df)
    report = p.report_
    assert p.release_ is None and not report["passed"] and report["iterations"] == []
    smallest = report["smallest_certifiable_threshold"]
    assert 0.05 < smallest < 0.6 and "cannot be certified" in report["message"]
    assert f"{smallest:g}" in report["message"] and "control rows" in report["message"]
    # a threshold above what the data size allows: it passes, and so does a shuffled release
    threshold = round(smallest * 1.3 + 0.01, 3)
    p = Protector(template, sensitive=["stroke"], max_risk=threshold, n_attacks=1000, max_attacks=4000).fit(df)
    assert p.report_["passed"] and p.release_ is not None
    best = p.report_["assessment"]["risks"]["inference:stroke"]["risk"]
    assert best["ci"][1] < threshold
    members = p.anonymizer_.transform(df, direct_identifiers=False)  # any rows: we only need a shuffled table
    rng = np.random.default_rng(0)
    split = p.report_["control"]
    from secured.privacy.protect import split_control

    ori, ctl = split_control(df, split["fraction"], split["seed"], None)
    shuffled = pd.DataFrame({c: ori[c].to_numpy()[rng.permutation(len(ori))] for c in ori.columns})
    shuffled_report = assess(ori, shuffled, ctl, ["age", "sex", "race", "marital-status"], ["stroke"],
                             n_attacks=4000, n_singling=300)
    assert shuffled_report["risks"]["inference:stroke"]["risk"]["ci"][1] < threshold
    assert len(members) == len(df)
    # on the CLI: exit 2, the message and no release
    src, out, rep = tmp_path / "s.csv", tmp_path / "r.csv", tmp_path / "r.json"
    df.to_csv(src, index=False)
    result = runner.invoke(app, ["protect", str(src), "--quasi-identifiers", "age,sex,race,marital-status",
                                 "--sensitive", "stroke", "--max-risk", "0.05", "--n-attacks", "1000",
                                 "--max-attacks", "4000", "--out", str(out), "--report", str(rep)])
    assert result.exit_code == 2 and "cannot be certified" in result.output and not out.exists()
    assert json.loads(rep.read_text())["iterations"] == []


def test_undeclared_identifying_columns_need_a_decision():
    rng = np.random.default_rng(0)
    n = 3000
    df = pd.DataFrame({
        "row_id": np.arange(n).astype(str),
        "latitude": rng.uniform(50, 52, n).round(9),
        "amount": rng.lognormal(8, 1, n).round(2),
        "city": rng.choice([f"city{i:04d}" for i in range(900)], n),
        "decade": rng.choice(["1950s", "1960s", "1970s", "1980s"], n),
        "gender": rng.choice(["F", "M"], n),
        "diagnosis": rng.choice(["a", "b", "c"], n),
    })
    template = Anonymizer(k=5, quasi_identifiers=["decade", "gender"], sensitive="diagnosis")
    with pytest.raises(BadInputError) as err:
        template.fit_transform(df)
    message = str(err.value)
    for column in ("row_id", "latitude", "amount", "city"):
        assert repr(column) in message
    assert "'diagnosis'" not in message.split("identify people")[0]
    for value in (df["city"].iloc[0], str(df["latitude"].iloc[0]), df["row_id"].iloc[7]):
        assert value not in message
    release = template.clone(keep=["latitude", "amount", "city"], drop=["row_id"]).fit_transform(df)
    screening = template.clone(keep=["latitude", "amount", "city"], drop=["row_id"])
    screening.fit_transform(df)
    assert screening.report_["undeclared_columns"]["kept"] == ["latitude", "amount", "city"]
    assert "row_id" not in release.columns
    with pytest.raises(BadInputError, match="identify people"):
        Protector(template, max_risk=0.1).fit(df)


def test_one_rare_row_deciding_a_level_is_reported_and_suppression_fixes_it():
    df = load("adult").head(5000).copy()
    df.loc[17, "sex"] = "Other"
    qis = ["sex", "race", "age"]
    H = {"sex": Hierarchy.from_spec("sex", "flat", df["sex"]), "race": Hierarchy.from_spec("race", "flat", df["race"]),
         "age": Hierarchy.from_spec("age", "intervals:5,10,20", df["age"])}
    strict = Anonymizer(k=2, quasi_identifiers=qis, hierarchies=H, keep="all")
    strict.fit_transform(df)
    decided = {c["column"]: c for c in strict.report_["levels_decided_by_few_rows"]}
    assert decided["sex"]["rows_to_suppress_one_level_lower"] == 1 and strict.report_["search_levels"]["sex"] == 1
    loose = strict.clone(max_suppression=0.002)
    loose.fit_transform(df)
    assert loose.report_["search_levels"]["sex"] == 0 and loose.report_["suppressed"] >= 1
    assert loose.report_["utility"]["loss"] < strict.report_["utility"]["loss"]


def test_mondrian_labels_contain_their_values_exactly():
    rng = np.random.default_rng(1)
    n = 600
    df = pd.DataFrame({"latitude": rng.uniform(50, 52, n).round(9), "amount": rng.uniform(1e6, 3e6, n).round(0),
                       "tiny": rng.uniform(0, 1e-6, n), "g": rng.choice(["F", "M"], n)})
    anon = Anonymizer(k=5, quasi_identifiers=["latitude", "amount", "tiny", "g"], method="mondrian",
                      numeric=["latitude", "amount", "tiny"], keep="all")
    release = anon.fit_transform(df)
    for c in ("latitude", "amount", "tiny"):
        cells = release[c].astype(str)
        assert not cells.str.contains("e", regex=False).any(), c  # never scientific notation
        values = df[c].to_numpy()
        cover = _coverage(np.array([repr(float(v)) if c != "amount" else str(int(v)) for v in values]),
                          np.array(cells.unique()), None)
        where = {cell: j for j, cell in enumerate(cells.unique())}
        assert all(cover[i, where[cell]] for i, cell in enumerate(cells)), c  # each cell holds its row's value


def test_numbers_match_hierarchy_keys_by_value_and_nominal_labels_list_members():
    ages = pd.Series([67, 68, 70, 71, 72] * 4)
    h = Hierarchy.from_intervals("age", ages, [5, 10])
    as_float = ages.astype(float)              # a Parquet float column: '67.0'
    assert h.check_covers(as_float).tolist() == ages.astype(str).tolist()
    assert h.generalize(as_float, 1).tolist() == h.generalize(ages, 1).tolist()
    text = pd.Series(["67.0", "68.0"])         # text that reads as the same numbers
    assert h.check_covers(text).tolist() == ["67", "68"]
    gender = pd.Series(["Female"] * 50 + ["Male"] * 40 + ["Other"])
    hg, spec, numeric = auto_hierarchy("gender", gender)
    labels = set(hg.table[1])
    assert spec == "by-frequency:2,4" and not numeric
    assert labels == {"{Female, Male}", "Other"}   # the rare value is not hidden in a range
    assert not any(".." in v for v in hg.table.to_numpy().ravel())
