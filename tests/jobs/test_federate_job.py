"""The federation job and CLI: a config run to the end on threads and on Ray actors, resumed,
with secure aggregation and cluster-level DP; status; publication behind the membership-
inference gate; bad configs refused before any round."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from secured.cli.main import app
from secured.jobs.federate import load_config, main, run

runner = CliRunner()


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    d = tmp_path_factory.mktemp("fed")
    rng = np.random.default_rng(0)
    for k in range(4):
        x = rng.normal(size=(300, 5))
        y = (x[:, 0] - x[:, 1] + rng.normal(size=300) > 0).astype(int)
        pd.DataFrame(x, columns=[f"f{i}" for i in range(5)]).assign(y=y).to_parquet(d / f"h{k}.parquet")
    return d


def _config(d, **extra):
    config = {"clients": [{"name": f"h{k}", "source": f"h{k}.parquet"} for k in range(4)], "label": "y",
              "model": {"layers": [5, 1]}, "strategy": {"name": "fedavg"}, "rounds": 3,
              "local": {"epochs": 1, "batch_size": 50, "lr": 0.5}, "output": "out"}
    config.update(extra)
    path = d / f"config-{len(list(d.glob('config-*')))}.json"
    path.write_text(json.dumps(config))
    return path


def _auroc(d, out):
    import torch
    from sklearn.metrics import roc_auc_score

    from secured.cluster.jobs.train import build_model

    meta = json.loads((d / out / "model.json").read_text())
    model = build_model(meta["model"])
    model.load_state_dict(torch.load(d / out / "model.pt", weights_only=True))
    t = pd.read_parquet(d / "h0.parquet")
    with torch.no_grad():
        s = model(torch.as_tensor(t.drop(columns="y").to_numpy())).numpy().reshape(-1)
    return roc_auc_score(t["y"], s)


def test_job_runs_resumes_and_learns(tables, capsys):
    path = _config(tables, output="plain")
    assert main([str(path)]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["status"] == "completed" and summary["rounds_completed"] == 3
    assert _auroc(tables, "plain") > 0.75
    before = (tables / "plain" / "params.npz").read_bytes()
    assert main([str(path)]) == 0                       # completed: resuming changes nothing
    assert (tables / "plain" / "params.npz").read_bytes() == before
    res = runner.invoke(app, ["federate", "status", str(tables / "plain")])
    assert res.exit_code == 0 and "completed: 3 of 3 rounds" in res.output


def test_secure_aggregation_and_dp_configs(tables):
    sa = run(load_config(_config(tables, output="sa", norm_bound=1.0,
                                 secure_aggregation={"threshold": 3, "bound": 1.0, "max_examples": 1000})))
    plain = run(load_config(_config(tables, output="pl", norm_bound=1.0)))
    a = np.load(tables / "sa" / "params.npz")
    b = np.load(tables / "pl" / "params.npz")
    assert all(np.abs(a[k] - b[k]).max() < 1e-3 for k in a.files)      # the same model within fixed point
    dp = run(load_config(_config(tables, output="dp", dp={"clip": 1.0, "noise_multiplier": 2.0, "delta": 1e-5,
                                                          "max_epsilon": 50.0, "ledger": "ledger.json"})))
    ledger = json.loads((tables / "ledger.json").read_text())
    assert len(ledger["entries"]) == 3 and dp["epsilon"] == pytest.approx(ledger["epsilon"])
    record = json.loads((tables / "dp" / "run.json").read_text())
    assert [r["epsilon"] for r in record["records"]] == sorted(r["epsilon"] for r in record["records"])
    assert sa["status"] == plain["status"] == "completed"


def test_publish_behind_the_gate(tables, tmp_path, monkeypatch):
    from secured.hub import Hub

    monkeypatch.setenv("SECURED_HOME", str(tmp_path / "home"))
    hub, admin = Hub.init()
    hub.add_member(admin, "hosp", "producer")
    monkeypatch.setenv("SECURED_TOKEN", hub.create_token(admin, "hosp", ["read", "write"]))
    run(load_config(_config(tables, output="pub")))
    args = ["federate", "publish", str(tables / "pub"), "--name", "fed-model", "--members",
            str(tables / "h0.parquet"), "--non-members", str(tables / "h3.parquet")]
    res = runner.invoke(app, args + ["--max-auc", "0.51"])                # too strict: refused, nothing written
    assert res.exit_code == 2 and "not published" in res.output
    assert hub.list_models(admin) == []
    res = runner.invoke(app, args + ["--max-auc", "0.7", "--max-tpr", "0.5"])
    assert res.exit_code == 0, res.output
    shown = hub.show_model(admin, "fed-model")["versions"][0]
    assert shown["membership_inference"]["loss"]["auc"] < 0.7
    assert shown["lineage"]["clients"] == ["h0", "h1", "h2", "h3"]
    assert hub.download_model(admin, "fed-model") == (tables / "pub" / "model.pt").read_bytes()   # what was attacked
    # with a population: reference models trained the run's way, LiRA and RMIA stored and gated too
    rng = np.random.default_rng(9)
    x = rng.normal(size=(600, 5))
    y = (x[:, 0] - x[:, 1] + rng.normal(size=600) > 0).astype(int)
    pd.DataFrame(x, columns=[f"f{i}" for i in range(5)]).assign(y=y).to_parquet(tmp_path / "pop.parquet")
    strong = args + ["--population", str(tmp_path / "pop.parquet"), "--reference-models", "2"]
    res = runner.invoke(app, strong + ["--max-auc", "0.7", "--max-tpr", "0.5"])
    assert res.exit_code == 0, res.output
    assert "(rmia)" in res.output and "(lira)" in res.output
    latest = hub.show_model(admin, "fed-model")["versions"][-1]["membership_inference"]
    assert latest["rmia"]["reference_models"] == latest["lira"]["reference_models"] == 2
    assert latest["rmia"]["members"] == 300 and latest["rmia"]["reference_rows"] == 300
    assert latest["loss"] == shown["membership_inference"]["loss"]          # the same model, the same loss attack
    hub.engine.dispose()


def test_ray_transport(tables, ray_runtime):
    out = run(load_config(_config(tables, output="ray", transport="ray")))
    assert out["status"] == "completed" and _auroc(tables, "ray") > 0.75


@pytest.mark.parametrize("extra, words", [
    ({"strategy": {"name": "fedsgd"}}, "Unknown strategy"),
    ({"strategy": {"name": "fedavgm", "options": {"lr": 1}}}, "Unknown option"),
    ({"label": "nope"}, "label column"),
    ({"model": {"layers": [7, 1]}}, "7 inputs"),
    ({"rounds": 0}, "rounds"),
    ({"secure_aggregation": {"threshold": 2, "bound": 1.0, "max_examples": 10}, "strategy": {"name": "median"}},
     "SMPC"),
])
def test_bad_configs_fail_before_any_round(tables, capsys, extra, words):
    path = _config(tables, output="bad", **extra)
    assert main([str(path)]) == 2
    assert words in capsys.readouterr().err
    assert not (tables / "bad" / "run.json").exists()


def test_the_run_record_goes_to_the_knowledge_base(tables, tmp_path, monkeypatch):
    from secured.hub import Hub

    monkeypatch.setenv("SECURED_HOME", str(tmp_path / "home"))
    hub, admin = Hub.init()
    hub.add_member(admin, "hosp", "producer")
    monkeypatch.setenv("SECURED_TOKEN", hub.create_token(admin, "hosp", ["read", "write"]))
    run(load_config(_config(tables, output="kb", hub={"name": "fed-kb"},
                            dp={"clip": 1.0, "noise_multiplier": 2.0, "delta": 1e-5, "max_epsilon": 50.0,
                                "ledger": "kb-ledger.json"})))
    shown = hub.show_federation_run(admin, "fed-kb")
    local = json.loads((tables / "kb" / "run.json").read_text())
    assert shown["status"] == "completed" and shown["rounds_completed"] == 3
    assert shown["records"] == local["records"] and shown["participants"] == ["h0", "h1", "h2", "h3"]
    assert shown["epsilon"] == pytest.approx(json.loads((tables / "kb-ledger.json").read_text())["epsilon"])
    hub.engine.dispose()


def _clusters(**extra):
    return {"clients": None, "clusters": [{"name": "north", "parties": ["h0.parquet", "h1.parquet"]},
                                          {"name": "south", "parties": ["h2.parquet", "h3.parquet"]}], **extra}


def test_smpc_clusters_learn_with_record_dp_and_resume(tables):
    """Clusters of parties from the config: each party reads its table, the clusters' models
    stay shared and are summed securely; with record_dp every round is in the ledger."""
    out = run(load_config(_config(tables, output="smpc", rounds=2, **_clusters())))
    assert out["status"] == "completed" and _auroc(tables, "smpc") > 0.75
    meta = json.loads((tables / "smpc" / "model.json").read_text())
    assert meta["clusters"] == {"north": 2, "south": 2} and meta["secure_aggregation"] is True
    record = json.loads((tables / "smpc" / "run.json").read_text())
    assert [r["participants"] for r in record["records"]] == [["north", "south"]] * 2
    assert [r["rows"] for r in record["records"]] == [[600, 600]] * 2
    dp = run(load_config(_config(tables, output="smpc-dp", rounds=2, **_clusters(
        record_dp={"sampling_rate": 0.1, "clip": 1.0, "noise_multiplier": 1.0, "delta": 1e-5, "max_epsilon": 20.0,
                   "ledger": "smpc-ledger.json"}))))
    ledger = json.loads((tables / "smpc-ledger.json").read_text())
    assert len(ledger["entries"]) == 2 and dp["epsilon"] == pytest.approx(ledger["epsilon"])
    assert all(e["unit"] == "record" for e in ledger["entries"])
    assert _auroc(tables, "smpc-dp") > 0.7
    before = (tables / "smpc-dp" / "params.npz").read_bytes()
    assert main([str(_config(tables, output="smpc-dp", rounds=2, **_clusters(
        record_dp={"sampling_rate": 0.1, "clip": 1.0, "noise_multiplier": 1.0, "delta": 1e-5, "max_epsilon": 20.0,
                   "ledger": "smpc-ledger.json"})))]) == 0        # completed: resuming changes nothing
    assert (tables / "smpc-dp" / "params.npz").read_bytes() == before
    assert len(json.loads((tables / "smpc-ledger.json").read_text())["entries"]) == 2


def test_smpc_clusters_on_ray_party_actors(tables, ray_runtime):
    out = run(load_config(_config(tables, output="smpc-ray", rounds=1, transport="ray", **_clusters())))
    assert out["status"] == "completed" and _auroc(tables, "smpc-ray") > 0.7


@pytest.mark.parametrize("extra, words", [
    (_clusters(clients=[{"name": "h0", "source": "h0.parquet"}]), "not both"),
    (_clusters(secure_aggregation={"threshold": 2, "bound": 1.0, "max_examples": 10}), "always summed securely"),
    (_clusters(strategy={"name": "median"}), "linear strategy"),
    (_clusters(norm_bound=1.0), "norm_bound"),
    (_clusters(model={"layers": [5, 4, 1]}, record_dp={"sampling_rate": 0.1, "clip": 1.0, "noise_multiplier": 1.0,
                                                       "delta": 1e-5, "max_epsilon": 3.0, "ledger": "l.json"}),
     "linear model"),
    ({"record_dp": {"sampling_rate": 0.1, "clip": 1.0, "noise_multiplier": 1.0, "delta": 1e-5, "max_epsilon": 3.0,
                    "ledger": "l.json"}}, "inside SMPC clusters"),
    (_clusters(model={"layers": [7, 1]}), "7 inputs"),
    ({"clusters": [{"name": "x", "parties": ["h0.parquet"]}, {"name": "y", "parties": ["h1.parquet", "h2.parquet"]}],
      "clients": None}, "parties"),
])
def test_bad_cluster_configs_fail_before_any_round(tables, capsys, extra, words):
    path = _config(tables, output="bad-smpc", **extra)
    assert main([str(path)]) == 2
    assert words in capsys.readouterr().err
    assert not (tables / "bad-smpc" / "run.json").exists()
