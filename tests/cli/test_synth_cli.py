"""``secured synth``: fit, sample, evaluate (JSON + HTML, exit code on memorization), augment
(exit code either way), the DP generator with its domain and ledger, and the marketplace:
publish for sampling only, sample through the hub, register a synthetic table."""

from __future__ import annotations

import json

import pandas as pd
from typer.testing import CliRunner

from secured.cli.main import app
from secured.data import load

runner = CliRunner()


def ok(args, code=0):
    result = runner.invoke(app, args)
    assert result.exit_code == code, result.output + (result.stderr or "")
    return result


def test_fit_sample_evaluate_augment(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    df = load("adult").sample(2400, random_state=0)
    df.iloc[:1600].to_csv("train.csv", index=False)
    df.iloc[1600:].to_csv("hold.csv", index=False)
    ok(["synth", "fit", "train.csv", "--out", "g.json", "--generator", "tvae", "--iterations", "80"])
    ok(["synth", "sample", "g.json", "--out", "s.parquet", "--n", "900", "--condition", "sex=Female"])
    rows = pd.read_parquet("s.parquet")
    assert len(rows) == 900 and (rows["sex"] == "Female").all() and pd.api.types.is_integer_dtype(rows["age"])
    out = ok(["synth", "evaluate", "train.csv", "s.parquet", "--holdout", "hold.csv", "--out", "e.json", "--html",
              "e.html", "--target", "salary-class", "--n-attacks", "60"]).output
    report = json.loads(open("e.json").read())
    assert "k-marginal" in out and report["utility"]["target"] == "salary-class"
    assert open("e.html").read().startswith("<!doctype html>")
    # augment: exit 0 and the table when it helps, exit 1 and no table (unless --force) when not
    result = runner.invoke(app, ["synth", "augment", "train.csv", "--target", "salary-class", "--to", "2400",
                                 "--out", "big.csv", "--report", "a.json", "--generator", "copula", "--folds", "2"])
    summary = json.loads(open("a.json").read())
    assert result.exit_code == (0 if summary["recommended"] else 1)
    assert (tmp_path / "big.csv").exists() == summary["recommended"]
    forced = runner.invoke(app, ["synth", "augment", "train.csv", "--target", "salary-class", "--to", "2000",
                                 "--out", "big2.csv", "--generator", "copula", "--folds", "2", "--force",
                                 "--indicator", "synthetic"])
    assert forced.exit_code in (0, 1)
    grown = pd.read_csv("big2.csv")
    assert len(grown) == 2000 and grown["synthetic"].sum() == 400


def test_dp_fit_with_domain_and_ledger(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    df = load("adult").head(3000)[["sex", "race", "age", "salary-class"]]
    df.to_csv("t.csv", index=False)
    domain = {"sex": ["Male", "Female"], "race": sorted(df["race"].unique()),
              "age": {"kind": "integer", "low": 17, "high": 90, "bins": 15}, "salary-class": ["<=50K", ">50K"]}
    (tmp_path / "domain.json").write_text(json.dumps(domain))
    args = ["synth", "fit", "t.csv", "--out", "mst.json", "--generator", "mst", "--epsilon", "1", "--delta",
            "1e-6", "--domain", "domain.json", "--ledger", "ledger.json", "--budget-rho", "0.04"]
    assert "ledger:" in ok(args).output
    ledger = json.loads(open("ledger.json").read())
    assert len(ledger["entries"]) >= 4 + 3
    # the second fit does not fit in what is left: refused, nothing charged, no generator written
    before = open("ledger.json").read()
    result = runner.invoke(app, [*args[:4], "mst2.json", *args[5:]])
    assert result.exit_code == 2 and "Nothing was measured" in (result.output + (result.stderr or ""))
    assert open("ledger.json").read() == before and not (tmp_path / "mst2.json").exists()
    ok(["synth", "sample", "mst.json", "--out", "s.csv", "--n", "500"])
    assert set(pd.read_csv("s.csv")["sex"]) <= {"Male", "Female"}
    # kinds of generators and their options do not mix
    assert runner.invoke(app, ["synth", "fit", "t.csv", "--out", "x.json", "--epsilon", "1"]).exit_code == 2


def test_publish_sample_only_and_register(tmp_path, monkeypatch):
    from secured.hub import Hub

    monkeypatch.setenv("SECURED_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    hub, admin = Hub.init()
    hub.add_member(admin, "hosp", "producer")
    hub.add_member(admin, "lab", "researcher")
    producer = hub.create_token(admin, "hosp", ["read", "write"])
    reader = hub.create_token(admin, "lab", ["read"])
    load("adult").head(1500).to_csv("t.csv", index=False)
    ok(["synth", "fit", "t.csv", "--out", "g.json"])
    monkeypatch.setenv("SECURED_TOKEN", producer)
    ok(["synth", "sample", "g.json", "--out", "s.csv", "--n", "300", "--register", "--title", "adult-synthetic"])
    [entry] = hub.search_datasets(reader, "adult-synthetic")
    assert entry["synthetic"] and entry["anonymization"]["method"] == "synthetic: gaussian_copula"
    assert len(hub.lake_get(reader, "synthetic/adult-synthetic", owner="hosp")) == 300
    ok(["synth", "publish", "g.json", "--name", "adult-copula"])
    monkeypatch.setenv("SECURED_TOKEN", reader)
    ok(["hub", "model", "sample", "adult-copula", "rows.csv", "--n", "120", "--seed", "1", "--token", reader])
    assert len(pd.read_csv("rows.csv")) == 120
    refused = runner.invoke(app, ["hub", "model", "download", "adult-copula", "x.json", "--token", reader])
    assert refused.exit_code == 2 and not (tmp_path / "x.json").exists()
