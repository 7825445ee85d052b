"""``python -m secured.jobs.synth``: fit on one Ray actor, sample in parallel on several (the same
rows for the same config), evaluate with a held-out share, register and publish in the hub,
and bad configs refused before any work with nothing written."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from secured.cluster.jobs.synth import load_config, main, run
from secured.data import load


def write_config(path, **changes):
    config = {"input": "train.csv", "generator": "copula", "sample": {"rows": 3000, "actors": 2, "seed": 4},
              "evaluate": {"target": "salary-class", "n_attacks": 60}, "output": "out"}
    config.update(changes)
    path.write_text(json.dumps(config))
    return path


def test_job_fits_samples_in_parallel_and_evaluates(tmp_path, ray_runtime):
    load("adult").head(2000).to_csv(tmp_path / "train.csv", index=False)
    config = load_config(write_config(tmp_path / "job.json"))
    metrics = run(config)
    assert metrics["rows_sampled"] == 3000 and metrics["actors"] == 2 and metrics["rows_fitted"] == 1600
    rows = pd.read_parquet(tmp_path / "out" / "synthetic.parquet")
    assert len(rows) == 3000 and list(rows.columns) == list(load("adult").columns)
    report = json.loads((tmp_path / "out" / "evaluation.json").read_text())
    assert report["rows"] == {"real_train": 1600, "synthetic": 3000, "real_holdout": 400}
    assert (tmp_path / "out" / "evaluation.html").exists() and (tmp_path / "out" / "generator.json").exists()
    # the same config gives the same rows (seeds per actor derive from the config's seed)
    run(load_config(write_config(tmp_path / "job2.json", output="out2")))
    pd.testing.assert_frame_equal(rows, pd.read_parquet(tmp_path / "out2" / "synthetic.parquet"))


def test_job_registers_and_publishes(tmp_path, ray_runtime, monkeypatch):
    from secured.hub import Hub

    monkeypatch.setenv("SECURED_HOME", str(tmp_path / "home"))
    hub, admin = Hub.init()
    hub.add_member(admin, "hosp", "producer")
    monkeypatch.setenv("SECURED_TOKEN", hub.create_token(admin, "hosp", ["read", "write"]))
    load("adult").head(800).to_csv(tmp_path / "train.csv", index=False)
    config = load_config(write_config(tmp_path / "job.json", evaluate=None, sample={"rows": 500, "actors": 1},
                                      hub={"title": "adult-job", "publish": "adult-job-gen"}))
    metrics = run(config)
    assert metrics["registered"]["model_version"] == 1
    assert hub.show_model(admin, "adult-job-gen")["versions"][0]["access"] == "sample"
    assert len(hub.sample_model(admin, "adult-job-gen", 10)) == 10


@pytest.mark.parametrize("change, message", [
    ({"generator": "gan"}, "generator"),
    ({"sample": {"rows": "10"}}, "sample.rows"),
    ({"generator": "mst"}, "dp"),
    ({"surprise": 1}, "surprise"),
    ({"gpus": "many"}, "gpus"),
    ({"hub": {"title": "x"}}, "SECURED_TOKEN"),
])
def test_bad_configs_exit_2_without_output(tmp_path, capsys, monkeypatch, change, message):
    monkeypatch.delenv("SECURED_TOKEN", raising=False)
    load("adult").head(50).to_csv(tmp_path / "train.csv", index=False)
    assert main([str(write_config(tmp_path / "job.json", **change))]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
