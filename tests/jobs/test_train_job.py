"""The config-driven training job: `python -m secured.jobs.train`, `secured mpc train`, and
`ray job submit` against a Ray head started with `ray start --head`, joined by address."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from secured.cli.main import app
from secured.jobs.train import build_model


def _write_job(tmp_path: Path, transport: str, **overrides) -> Path:
    rng = np.random.default_rng(0)
    n = 400
    y = rng.integers(0, 2, n)
    X = rng.normal(size=(n, 20)) + y[:, None] * 1.0  # two Gaussian clusters
    df = pd.DataFrame(X, columns=[f"x{i}" for i in range(20)])
    df["label"] = y
    df.iloc[:200].to_csv(tmp_path / "a.csv", index=False)
    df.iloc[200:].to_parquet(tmp_path / "b.parquet")
    config = {"parties": [{"source": "a.csv"}, {"source": "b.parquet"}], "label": "label",
              "transport": transport, "model": {"layers": [20, 10, 5, 1], "activation": "relu", "seed": 0},
              "train": {"epochs": 3, "batch_size": 50, "lr": 0.1, "momentum": 0.9},
              "output": "out", "reveal_model": True, **overrides}
    path = tmp_path / "job.json"
    path.write_text(json.dumps(config))
    return path


def _check_outputs(out: Path, data_dir: Path) -> None:
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["rows"] == 400 and metrics["features"] == 20 and len(metrics["epochs"]) == 3
    assert sorted(p.name for p in (out / "model").iterdir()) == ["model.json", "party_0.npz", "party_1.npz"]
    model = build_model({"layers": [20, 10, 5, 1]})
    model.load_state_dict(torch.load(out / "model.pt"))
    df = pd.concat([pd.read_csv(data_dir / "a.csv"), pd.read_parquet(data_dir / "b.parquet")])
    logits = model(torch.tensor(df.drop(columns=["label"]).to_numpy())).detach().numpy()[:, 0]
    assert ((logits > 0) == df["label"].to_numpy()).mean() > 0.8


def test_module_entry_point_threads(tmp_path):
    config = _write_job(tmp_path, "threads")
    result = subprocess.run([sys.executable, "-m", "secured.jobs.train", str(config)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "epoch 3 of 3" in result.stderr and json.loads(result.stdout)["rows"] == 400
    _check_outputs(tmp_path / "out", tmp_path)


def test_cli_on_local_ray(tmp_path, ray_runtime):
    config = _write_job(tmp_path, "ray")
    result = CliRunner().invoke(app, ["mpc", "train", str(config)])
    assert result.exit_code == 0, result.output
    _check_outputs(tmp_path / "out", tmp_path)


def test_fss_logistic_regression_in_four_rounds_a_step(tmp_path):
    """mpc: {protocol: fss} on 2 parties: a logistic-regression step is 4 rounds (the forward
    product, the FSS sigmoid's 2, the weight gradient's product: the data needs no gradient),
    the model learns."""
    from secured.cluster.jobs.train import load_config, run

    config = _write_job(tmp_path, "threads", model={"layers": [20, 1], "seed": 0},
                        train={"epochs": 1, "batch_size": 50, "lr": 0.5, "loss": "bce"}, reveal_model=False,
                        mpc={"protocol": "fss", "link": {"latency": 0.0005, "bandwidth": 1e9}})
    loaded = load_config(config)
    from secured.cluster import Cluster
    from secured.mpc import Network

    from secured.mpc import nn

    template = build_model({"layers": [20, 1]})
    with Cluster([loaded["parties"][0]["source"], loaded["parties"][1]["source"]], label="label", transport="threads",
                 protocol="fss", link=Network(0.0005, 1e9)) as cluster:
        cluster.session.reset_stats()
        history = cluster.fit(template, epochs=1, batch_size=50, lr=0.5, progress=False)
        party = cluster.session.stats()["parties"][0]
        model = nn.to_torch(history["model"], template)
    assert party["rounds"] == 8 * 4 and party["protocols"]["sigmoid"] == {"fss": 8, "classic": 0}
    df = pd.concat([pd.read_csv(tmp_path / "a.csv"), pd.read_parquet(tmp_path / "b.parquet")])
    logits = model(torch.tensor(df.drop(columns=["label"]).to_numpy())).detach().numpy()[:, 0]
    assert ((logits > 0) == df["label"].to_numpy()).mean() > 0.8
    assert run(loaded, progress=False)["parties"] == 2                     # the job runs with the same option


@pytest.mark.parametrize("change, message", [
    ({"mpc": {"protocol": "fastest"}}, "mpc.protocol"),
    ({"mpc": {"link": {"latency": -1, "bandwidth": 1e9}}}, "mpc.link.latency"),
    ({"epochs_total": 3}, "epochs_total: Extra inputs are not permitted"),
    ({"reveal_model": "false"}, "reveal_model: Input should be a valid boolean"),   # a quoted false is not False
    ({"train": {"epochs": "3", "batch_size": 50, "lr": 0.1}}, "train.epochs: Input should be a valid integer"),
    ({"parties": [{"source": "a.csv"}, {"source": "missing.csv"}]}, "No input file"),
    ({"model": {"layers": [19, 1]}}, "20 feature columns"),
    ({"label": "nope"}, "label column 'nope'"),
])
def test_bad_configs_exit_2_without_output(tmp_path, change, message):
    config = _write_job(tmp_path, "threads", **change)
    result = CliRunner().invoke(app, ["mpc", "train", str(config)])
    assert result.exit_code == 2
    assert message in result.output
    assert not (tmp_path / "out" / "metrics.json").exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop_cluster(ray_tmp: str) -> None:
    """Stop only this test's head (`ray stop` would also stop the suite's own Ray): every
    process whose command line names this cluster's temp folder."""
    import signal

    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if ray_tmp in cmdline:
            try:
                os.kill(int(proc.name), signal.SIGKILL)
            except ProcessLookupError:
                pass
    shutil.rmtree(ray_tmp, ignore_errors=True)


def test_ray_job_submit_and_address_on_a_started_head(tmp_path):
    """`ray start --head`, then the job by `ray job submit` and by RAY_ADDRESS."""
    ray_bin = Path(sys.executable).with_name("ray")
    ray_tmp = tempfile.mkdtemp(prefix="rj")  # short: Ray's unix socket paths must stay short
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16),
           "RAY_TMPDIR": ray_tmp}
    env.pop("RAY_ADDRESS", None)
    gcs, dash, agent, client, agent_grpc, runtime_env, metrics = (_free_port() for _ in range(7))
    started = subprocess.run([str(ray_bin), "start", "--head", f"--port={gcs}", "--num-cpus=2",
                              "--include-dashboard=true", f"--dashboard-port={dash}",
                              f"--dashboard-agent-listen-port={agent}", f"--ray-client-server-port={client}",
                              f"--dashboard-agent-grpc-port={agent_grpc}", f"--runtime-env-agent-port={runtime_env}",
                              f"--metrics-export-port={metrics}", "--disable-usage-stats"],
                             env=env, capture_output=True, text=True, timeout=180)
    assert started.returncode == 0, started.stderr[-2000:]
    try:
        config = _write_job(tmp_path, "ray")
        joined = subprocess.run([sys.executable, "-m", "secured.jobs.train", str(config)],
                                env={**env, "RAY_ADDRESS": f"127.0.0.1:{gcs}"},
                                capture_output=True, text=True, timeout=600)
        assert joined.returncode == 0, joined.stderr[-2000:]
        _check_outputs(tmp_path / "out", tmp_path)
        shutil.rmtree(tmp_path / "out")
        for attempt in range(10):  # the job agent may need a moment after start
            submitted = subprocess.run([str(ray_bin), "job", "submit", "--address", f"http://127.0.0.1:{dash}",
                                        "--", sys.executable, "-m", "secured.jobs.train", str(config)],
                                       env=env, capture_output=True, text=True, timeout=600)
            if "No available agent" not in submitted.stdout + submitted.stderr:
                break
            time.sleep(3)
        assert submitted.returncode == 0, (submitted.stdout + submitted.stderr)[-2000:]
        _check_outputs(tmp_path / "out", tmp_path)
    finally:
        _stop_cluster(ray_tmp)
