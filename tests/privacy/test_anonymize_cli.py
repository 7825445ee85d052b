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
