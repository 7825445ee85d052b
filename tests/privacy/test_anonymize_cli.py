"""`secured anonymize`: the report's k, l, t equal what independent code recomputes from the
released file alone; bad input gets a clear error naming the column or option and leaves no
output file."""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict

import pandas as pd
import pytest
from typer.testing import CliRunner

from secured.cli.main import app
from secured.data import load, path

QIS = ["sex", "age", "race", "marital-status", "education", "native-country", "workclass", "occupation"]
runner = CliRunner()


def _hier_args(cols):
    out = []
    for c in cols:
        out += ["--hierarchy", f"{c}={path(f'arx/adult_hierarchy_{c}.csv')}"]
    return out


@pytest.fixture(scope="module")
def adult_csv(tmp_path_factory):
    p = tmp_path_factory.mktemp("in") / "adult.csv"
    load("adult").to_csv(p, index=False)
    return p


def recompute(release: pd.DataFrame, qis, sensitive):
    classes = defaultdict(list)
    for key, s in zip(release[qis].astype(str).itertuples(index=False), release[sensitive].astype(str)):
        classes[tuple(key)].append(s)
    k = min(len(v) for v in classes.values())
    l_distinct = min(len(set(v)) for v in classes.values())
    glob, n = Counter(release[sensitive].astype(str)), len(release)
    t = max(0.5 * sum(abs(Counter(v)[x] / len(v) - glob[x] / n) for x in glob) for v in classes.values())
    ent = min(math.exp(-sum(c / len(v) * math.log(c / len(v)) for c in Counter(v).values())) for v in classes.values())
    return k, l_distinct, t, ent


@pytest.mark.parametrize("method, extra", [
    ("optimal", []),
    ("mondrian", ["--numeric", "age"]),
    ("optimal", ["--max-suppression", "0.05", "--k", "20"]),
])
def test_report_matches_the_release(tmp_path, adult_csv, method, extra):
    out, report = tmp_path / "release.csv", tmp_path / "report.json"
    args = ["anonymize", str(adult_csv), "--quasi-identifiers", ",".join(QIS), *_hier_args(QIS),
            "--k", "5", "--method", method, "--sensitive", "salary-class", "--out", str(out),
            "--report", str(report), *extra]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    rep = json.loads(report.read_text())
    release = pd.read_csv(out, dtype=str, keep_default_na=False)
    k, l_distinct, t, _ = recompute(release, QIS, "salary-class")
    assert rep["k"] == k >= rep["k_requested"]
    assert rep["l"] == l_distinct and abs(rep["t"] - t) < 1e-12
    assert rep["rows_out"] == len(release) and rep["suppressed"] == rep["rows_in"] - len(release)
    assert rep["suppression_rate"] <= (0.05 if "--max-suppression" in extra else 0.0)


def test_entropy_l_is_checked(tmp_path, adult_csv):
    out, report = tmp_path / "r.parquet", tmp_path / "r.json"
    result = runner.invoke(app, ["anonymize", str(adult_csv), "--quasi-identifiers", ",".join(QIS),
                                 *_hier_args(QIS), "--method", "mondrian", "--numeric", "age",
                                 "--sensitive", "occupation", "--l-variant", "entropy",
                                 "--out", str(out), "--report", str(report)])
    assert result.exit_code == 0, result.output
    rep = json.loads(report.read_text())
    assert abs(rep["l"] - recompute(pd.read_parquet(out), QIS, "occupation")[3]) < 1e-9


@pytest.mark.parametrize("args, message", [
    (["--quasi-identifiers", "sex,agee"], "'agee'"),
    (["--quasi-identifiers", "sex", "--method", "flash"], "'method'"),
    (["--quasi-identifiers", "sex", "--l-variant", "weird", "--sensitive", "race"], "'l_variant'"),
    (["--quasi-identifiers", "sex", "--k", "40000"], "larger than the number of rows"),
    (["--quasi-identifiers", "sex", "--sensitive", "race", "--l", "9"], "l = "),
    (["--quasi-identifiers", "sex", "--hierarchy", "sex"], "COLUMN=PATH"),
])
def test_bad_input_leaves_no_output(tmp_path, adult_csv, args, message):
    out = tmp_path / "release.csv"
    base = ["anonymize", str(adult_csv), "--out", str(out)]
    if "--hierarchy" not in args:
        base += _hier_args(["sex"])
    result = runner.invoke(app, base + args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_uncovered_value_and_nan(tmp_path):
    df = load("adult").head(200).copy()
    df.loc[3, "age"] = "250"
    bad = tmp_path / "bad.csv"
    df.to_csv(bad, index=False)
    out = tmp_path / "o.csv"
    result = runner.invoke(app, ["anonymize", str(bad), "--quasi-identifiers", "age", *_hier_args(["age"]),
                                 "--out", str(out)])
    assert result.exit_code == 2 and "column 'age' does not cover 1" in result.output
    assert "250" not in result.output and not out.exists()
    df.loc[3, "age"] = None
    df.to_parquet(tmp_path / "nan.parquet")
    result = runner.invoke(app, ["anonymize", str(tmp_path / "nan.parquet"), "--quasi-identifiers", "age",
                                 *_hier_args(["age"]), "--out", str(out)])
    assert result.exit_code == 2 and "'age' have missing values" in result.output and not out.exists()


@pytest.fixture(scope="module")
def diabetes_parquet(tmp_path_factory):
    p = tmp_path_factory.mktemp("in") / "diabetes.parquet"
    load("diabetes130").to_parquet(p)
    return p


def test_diabetes_people_builders_and_pseudonyms(tmp_path, diabetes_parquet):
    """Patients counted once, hierarchies built from specs, ids pseudonymized, encounter ids dropped."""
    qis = ["age", "gender", "race", "diag_1", "time_in_hospital"]
    out, report = tmp_path / "r.parquet", tmp_path / "r.json"
    result = runner.invoke(app, [
        "anonymize", str(diabetes_parquet), "--quasi-identifiers", ",".join(qis), "--method", "mondrian",
        "--hierarchy", "age=ordered:2,5", "--hierarchy", "gender=flat", "--hierarchy", "race=flat",
        "--hierarchy", "diag_1=icd9", "--numeric", "time_in_hospital", "--id-column", "patient_nbr",
        "--sensitive", "readmitted", "--l", "2", "--drop", "encounter_id", "--pseudonymize", "patient_nbr",
        "--keep", "num_lab_procedures,num_medications,diag_2,diag_3", "--out", str(out), "--report", str(report)])
    assert result.exit_code == 0, result.output
    rep, release = json.loads(report.read_text()), pd.read_parquet(out)
    assert "encounter_id" not in release.columns and release["patient_nbr"].str.fullmatch("[0-9a-f]{32}").all()
    people = defaultdict(set)
    for key, pid in zip(release[qis].astype(str).itertuples(index=False), release["patient_nbr"]):
        people[tuple(key)].add(pid)
    assert rep["k"] == min(len(v) for v in people.values()) >= 5
    assert rep["l"] >= 2 and rep["counted"] == "people" and rep["utility"]["loss"] < 0.2


def test_dp_histogram_cli_and_refusal(tmp_path, diabetes_parquet):
    ledger, out = tmp_path / "ledger.json", tmp_path / "hist.csv"
    base = ["dp", "histogram", str(diabetes_parquet), "--columns", "age,readmitted", "--id-column", "patient_nbr",
            "--ledger", str(ledger)]
    ages = tmp_path / "ages.txt"
    ages.write_text("\n".join(f"[{10 * i}-{10 * (i + 1)})" for i in range(10)))
    result = runner.invoke(app, [*base, "--rho", "0.5", "--budget-rho", "0.8", "--out", str(out),
                                 "--domain", "readmitted=NO,>30,<30"])
    assert result.exit_code == 2 and "no public domain" in result.output and not out.exists()
    assert not ledger.exists() or json.loads(ledger.read_text())["entries"] == []
    result = runner.invoke(app, [*base, "--rho", "0.5", "--budget-rho", "0.8", "--out", str(out),
                                 "--domain", "readmitted=NO,>30,<30", "--domain", f"age=@{ages}"])
    assert result.exit_code == 0, result.output
    hist = pd.read_csv(out, keep_default_na=False)
    assert len(hist) == 30 and set(hist["readmitted"]) == {"NO", ">30", "<30"}
    truth = load("diabetes130").drop_duplicates("patient_nbr").shape[0]
    assert abs(hist["count"].sum() - truth) < 30 * 8  # 30 cells, sd 1 each
    again = tmp_path / "again.csv"
    result = runner.invoke(app, [*base, "--rho", "0.5", "--out", str(again), "--domain", "readmitted=NO,>30,<30",
                                 "--domain", f"age=@{ages}"])
    assert result.exit_code == 2 and "budget" in result.output.lower() and not again.exists()
    assert len(json.loads(ledger.read_text())["entries"]) == 1


def test_empty_csv_cell_in_a_quasi_identifier_is_missing(tmp_path):
    df = load("adult").head(300).copy()
    df.loc[7, "race"] = ""
    src, out = tmp_path / "gap.csv", tmp_path / "o.csv"
    df.to_csv(src, index=False)
    result = runner.invoke(app, ["anonymize", str(src), "--quasi-identifiers", "race,sex", "--hierarchy", "race=flat",
                                 "--hierarchy", "sex=flat", "--out", str(out)])
    assert result.exit_code == 2 and "'race' have missing values" in result.output and not out.exists()
