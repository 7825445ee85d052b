"""``secured bias report|mitigate`` and the --bias-* options of protect and synth augment:
files written atomically, the report's numbers equal the library's, findings reach the hub."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from secured.bias import bias_report
from secured.cli.main import app
from secured.data import load

runner = CliRunner()


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(
        a[k] == pytest.approx(b[k], abs=1e-12) if isinstance(b[k], float) else a[k] == b[k] for k in a)


@pytest.fixture(scope="module")
def adult_csv(tmp_path_factory):
    d = tmp_path_factory.mktemp("bias")
    load("adult").head(4000).to_csv(d / "adult.csv", index=False)
    return d


def test_report_json_and_html(adult_csv):
    d = adult_csv
    res = runner.invoke(app, ["bias", "report", str(d / "adult.csv"), "--protected", "sex,race", "--target",
                              "salary-class", "--positive", ">50K", "--out", str(d / "r.json"), "--html",
                              str(d / "r.html")])
    assert res.exit_code == 0, res.output
    report = json.loads((d / "r.json").read_text())
    direct = bias_report(pd.read_csv(d / "adult.csv", dtype=str), ["sex", "race"], "salary-class", positive=">50K")
    assert _same(report["findings"], direct.findings)
    html = (d / "r.html").read_text()
    assert "<svg" in html and "sex x race" in html


def test_mitigate_every_method(adult_csv):
    d = adult_csv
    for method in ("reweigh", "resample", "preferential"):
        out = d / f"m-{method}.csv"
        res = runner.invoke(app, ["bias", "mitigate", str(d / "adult.csv"), "--protected", "sex,race", "--target",
                                  "salary-class", "--positive", ">50K", "--method", method, "--out", str(out),
                                  "--report", str(d / f"m-{method}.json"), "--html", str(d / f"m-{method}.html")])
        assert res.exit_code == 0, res.output
        made = json.loads((d / f"m-{method}.json").read_text())
        assert made["after"]["max_statistical_parity_difference"] < made["before"]["max_statistical_parity_difference"]
        table = pd.read_csv(out, dtype=str)
        if method == "reweigh":
            assert "weight" in table.columns and len(table) == 4000


def test_synthetic_mitigation_and_bad_options(adult_csv):
    d = adult_csv
    res = runner.invoke(app, ["bias", "mitigate", str(d / "adult.csv"), "--protected", "sex", "--target",
                              "salary-class", "--positive", ">50K", "--method", "synthetic", "--generator", "copula",
                              "--out", str(d / "s.csv"), "--report", str(d / "s.json")])
    assert res.exit_code == 0, res.output
    made = json.loads((d / "s.json").read_text())
    assert made["synthetic_rows"] > 0 and made["groups"]
    for args, words in (
            (["--method", "smote"], "--method"),
            (["--method", "synthetic", "--generator", "mst"], "copula, tvae or tabddpm")):
        res = runner.invoke(app, ["bias", "mitigate", str(d / "adult.csv"), "--protected", "sex", "--target",
                                  "salary-class", "--positive", ">50K", "--out", str(d / "bad.csv"), *args])
        assert res.exit_code == 2 and words in res.output and not (d / "bad.csv").exists()


def test_protect_stores_bias_findings_in_the_hub(tmp_path, monkeypatch):
    from secured.hub import Hub

    monkeypatch.setenv("SECURED_HOME", str(tmp_path / "home"))
    hub, admin = Hub.init()
    hub.add_member(admin, "hosp", "producer")
    monkeypatch.setenv("SECURED_TOKEN", hub.create_token(admin, "hosp", ["read", "write"]))
    load("adult").head(3000).to_csv(tmp_path / "a.csv", index=False)
    res = runner.invoke(app, ["protect", str(tmp_path / "a.csv"), "--quasi-identifiers", "age,sex,race",
                              "--max-risk", "0.5", "--n-attacks", "200", "--out", str(tmp_path / "rel.csv"),
                              "--report", str(tmp_path / "rep.json"), "--register", "--bias-protected", "sex,race",
                              "--bias-target", "salary-class", "--bias-positive", ">50K"])
    assert res.exit_code == 0, res.output
    report = json.loads((tmp_path / "rep.json").read_text())
    released = pd.read_csv(tmp_path / "rel.csv", dtype=str)
    again = bias_report(released, ["sex", "race"], "salary-class", positive=">50K", missing="group")
    assert _same(report["bias"]["findings"], again.findings)     # the report describes the release
    token = hub.create_token(admin, "hosp", ["read"])
    found = hub.search_datasets(token, has_bias=True)
    assert len(found) == 1 and found[0]["bias"]["target"] == "salary-class"
    assert found[0]["bias"]["max_statistical_parity_difference"] == pytest.approx(
        again.findings["max_statistical_parity_difference"])
    res = runner.invoke(app, ["protect", str(tmp_path / "a.csv"), "--quasi-identifiers", "age", "--out",
                              str(tmp_path / "r2.csv"), "--report", str(tmp_path / "r2.json"), "--bias-protected",
                              "nope"])
    assert res.exit_code == 2 and "'nope'" in res.output and not (tmp_path / "r2.json").exists()
    hub.engine.dispose()


def test_augment_reports_the_bias_of_the_grown_table(adult_csv):
    d = adult_csv
    load("adult").head(1000).to_csv(d / "small.csv", index=False)
    res = runner.invoke(app, ["synth", "augment", str(d / "small.csv"), "--target", "salary-class", "--to", "1200",
                              "--generator", "copula", "--folds", "2", "--force", "--out", str(d / "grown.csv"),
                              "--report", str(d / "grown.json"), "--bias-protected", "sex,race", "--bias-target",
                              "salary-class", "--bias-positive", ">50K"])
    assert res.exit_code in (0, 1), res.output
    made = json.loads((d / "grown.json").read_text())
    grown = pd.read_csv(d / "grown.csv", dtype=str)
    again = bias_report(grown, ["sex", "race"], "salary-class", positive=">50K", missing="group")
    assert made["bias"]["findings"]["rows"] == 1200 and _same(made["bias"]["findings"], again.findings)
