"""Every command, fed a table whose every column holds a distinctive marker value and given bad
options, fails with a clear message that never shows the marker (stdout and stderr both)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from secured.cli.main import app
from secured.data import load

MARKER = "ZQXMARKER"
runner = CliRunner()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("marker")
    df = load("adult").head(600).copy()
    for i, c in enumerate(df.columns):          # every column holds the marker somewhere
        df.loc[i, c] = f"{MARKER}{i}"
    df["pid"] = [f"{MARKER}-p{i}" for i in range(len(df))]
    df.to_csv(d / "t.csv", index=False)
    df.to_parquet(d / "t.parquet")
    df.to_csv(d / "noheader.csv", index=False, header=False)
    (d / "fake.parquet").write_text(f"{MARKER} is not parquet")
    (d / "binary.csv").write_bytes(b"\x00\x01" + MARKER.encode() + b"\xff\xfe")
    (d / "empty.csv").write_bytes(b"")
    numbers = pd.DataFrame({"x0": [1.0, 2.0], "x1": [MARKER, "3"], "label": [0, 1]})
    numbers.to_csv(d / "party.csv", index=False)
    job = {"parties": [{"source": "party.csv"}, {"source": "party.csv"}], "label": "label",
           "transport": "threads", "model": {"layers": [2, 1]}, "train": {"epochs": 1, "batch_size": 2, "lr": 0.1},
           "output": "out"}
    (d / "job.json").write_text(json.dumps(job))
    (d / "job_bool.json").write_text(json.dumps({**job, "reveal_model": MARKER}))
    (d / "job_bad.yaml").write_text(f"parties: [{MARKER}\n  : - x")
    (d / "domain.json").write_text(json.dumps({"sex": ["Male", "Female"], "race": ["White", "Black"]}))
    (d / "fake_gen.json").write_text(json.dumps({"format": "secured-synth/1", "generator": MARKER}))
    fed = {"clients": [{"name": "a", "source": "t.csv"}, {"name": "b", "source": "party.csv"}], "label": "label",
           "model": {"layers": [2, 1]}, "strategy": {"name": "fedavg"}, "rounds": 1, "output": "fedout"}
    (d / "fed.json").write_text(json.dumps(fed))                               # t.csv: text features, no label
    (d / "fed_party.json").write_text(json.dumps({**fed, "clients": [{"name": "b", "source": "party.csv"}]}))
    (d / "fed_bad.json").write_text(json.dumps({**fed, "strategy": {"name": MARKER}}))
    return d


def _commands(d):
    t, pq = str(d / "t.csv"), str(d / "t.parquet")
    out = str(d / "o.csv")
    qis = ["--quasi-identifiers", "age,sex,race"]
    return [
        ["anonymize", t, *qis, "--out", out],                                   # marker cells not covered
        ["anonymize", t, "--quasi-identifiers", "agee", "--out", out],
        ["anonymize", str(d / "noheader.csv"), *qis, "--out", out],
        ["anonymize", str(d / "fake.parquet"), *qis, "--out", out],
        ["anonymize", str(d / "binary.csv"), *qis, "--out", out],
        ["anonymize", str(d / "empty.csv"), *qis, "--out", out],
        ["anonymize", t, *qis, "--out", str(d)],
        ["anonymize", t, *qis, "--out", t],
        ["anonymize", pq, "--quasi-identifiers", "sex", "--hierarchy", "sex=flat", "--classification-target", "race",
         "--keep", "all", "--out", str(d / "c.csv")],
        ["anonymize", pq, "--quasi-identifiers", "sex", "--hierarchy", "sex=flat", "--out", str(d / "k.csv")],
        ["anonymize", pq, *qis, "--method", "mdav", "--out", out],
        ["anonymize", pq, *qis, "--hierarchy", "age=intervals:x", "--out", out],
        ["assess", t, t, "--quasi-identifiers", "age", "--out", str(d / "a.json")],
        ["assess", t, pq, "--control", str(d / "noheader.csv"), "--quasi-identifiers", "age", "--out",
         str(d / "a.json")],
        ["protect", pq, "--quasi-identifiers", "sex,race", "--sensitive", "salary-class", "--out", out, "--report",
         str(d / "r.json")],
        ["protect", pq, "--quasi-identifiers", "sex,race", "--keep", "all", "--max-risk", "0.001", "--out", out,
         "--report", str(d / "r.json")],
        ["dp", "histogram", pq, "--columns", "race", "--rho", "0.5", "--ledger", str(d / "l.json"), "--budget-rho",
         "1", "--out", str(d / "h.csv")],
        ["dp", "histogram", pq, "--columns", "race", "--rho", "1e-300", "--domain", "race=White,Black", "--ledger",
         str(d / "l2.json"), "--budget-rho", "1", "--out", str(d / "h.csv")],
        ["mpc", "train", str(d / "job.json")],
        ["mpc", "train", str(d / "job_bool.json")],
        ["mpc", "train", str(d / "job_bad.yaml")],
        ["hub", "lake", "put", "x", t, "--token", f"sk_{MARKER}"],
        ["synth", "fit", t, "--out", str(d / "g.json")],                        # pid: an identifier
        ["synth", "fit", t, "--out", str(d / "g.json"), "--generator", "gan"],
        ["synth", "fit", t, "--out", str(d / "g.json"), "--generator", "mst", "--epsilon", "1", "--delta", "1e-6",
         "--domain", str(d / "domain.json"), "--ledger", str(d / "sl.json"), "--budget-rho", "1"],
        ["synth", "fit", str(d / "noheader.csv"), "--out", str(d / "g.json"), "--identifiers", "pid"],
        ["synth", "sample", str(d / "fake_gen.json"), "--out", str(d / "s.csv")],
        ["synth", "evaluate", t, t, "--holdout", str(d / "empty.csv"), "--out", str(d / "e.json")],
        ["synth", "augment", t, "--target", "salary-class", "--to", "10", "--out", str(d / "x.csv")],
        ["hub", "model", "sample", "m", str(d / "m.csv"), "--token", f"sk_{MARKER}"],
        ["bias", "report", t, "--protected", "sex,race", "--target", "salary-class", "--out", str(d / "b.json")],
        ["bias", "report", t, "--protected", "sex,race", "--target", "salary-class", "--positive", "nope", "--out",
         str(d / "b.json")],
        ["bias", "report", t, "--protected", "pid", "--out", str(d / "b.json")],            # one group per row
        ["bias", "report", t, "--protected", "sexx", "--out", str(d / "b.json")],
        ["bias", "report", t, "--protected", "sex", "--weights", "race", "--out", str(d / "b.json")],
        ["bias", "report", t, "--protected", "sex", "--reference", str(d / "noheader.csv"), "--out",
         str(d / "b.json")],
        ["bias", "mitigate", t, "--protected", "sex", "--target", "salary-class", "--method", "magic", "--out", out],
        ["bias", "mitigate", pq, "--protected", "sex", "--target", "race", "--positive", "White", "--method",
         "synthetic", "--generator", "copula", "--out", out],                               # pid: an identifier
        ["protect", pq, "--quasi-identifiers", "sex,race", "--bias-protected", "sexx", "--out", out, "--report",
         str(d / "r.json")],
        ["federate", "run", str(d / "fed.json")],
        ["federate", "run", str(d / "fed_party.json")],                        # x1 holds the marker
        ["federate", "run", str(d / "fed_bad.json")],
        ["federate", "status", str(d)],
        ["federate", "publish", str(d), "--name", "m", "--members", t, "--non-members", t],
        ["serve", "--db", f"mysql://{MARKER}@host/db"],                          # refused before Ray starts
        ["serve", "--lake", f"nope{MARKER}://x"],
        ["serve", "--port", "0"],
    ]


def test_no_command_shows_a_cell(files, monkeypatch, tmp_path):
    monkeypatch.setenv("SECURED_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(files)
    failures = []
    for args in _commands(files):
        result = runner.invoke(app, args)
        text = result.output + (result.stderr if result.stderr_bytes is not None else "")
        if result.exit_code == 0:
            failures.append((args[:2], "succeeded"))
        if MARKER in text or "Traceback" in text:
            failures.append((args[:3], text[-400:]))
        if isinstance(result.exception, Exception) and not isinstance(result.exception, SystemExit):
            failures.append((args[:3], repr(result.exception)[:200]))
    assert not failures, failures
