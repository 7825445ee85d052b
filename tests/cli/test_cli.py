"""The `secured` command: version, demo and the ring benchmark run for real."""

from __future__ import annotations

import json

from typer.testing import CliRunner

import secured
from secured.cli.main import app

runner = CliRunner()


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert secured.__version__ in result.output


def test_demo_passes():
    result = runner.invoke(app, ["demo"])
    assert result.exit_code == 0, result.output
    assert "demo passed" in result.output


def test_bench_ring_reports_exact_ratios():
    result = runner.invoke(app, ["bench", "ring", "--sizes", "32,64", "--repeat", "1",
                                 "--prg-mib", "4", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert [row["n"] for row in report["matmul"]] == [32, 64]
    for row in report["matmul"]:
        assert row["exact"] is True
        assert row["vs_blas"] == row["ours_s"] / row["blas_float64_s"]
    assert report["prg_gb_per_s"] > 0


def test_bench_rejects_bad_options():
    result = runner.invoke(app, ["bench", "ring", "--sizes", "a,b"])
    assert result.exit_code == 2
    assert "--sizes" in result.output
    result = runner.invoke(app, ["bench", "ring", "--backend", "tpu"])
    assert result.exit_code == 2
    result = runner.invoke(app, ["bench", "nope"])
    assert result.exit_code != 0


def test_backends_listing():
    result = runner.invoke(app, ["backends"])
    assert result.exit_code == 0
    assert "cython" in result.output and "numpy" in result.output


def test_bench_mpc_small_run():
    result = runner.invoke(app, ["bench", "mpc", "--n", "16", "--relu-log2", "8", "--repeat", "1",
                                 "--no-ray", "--no-crypten", "--json"])
    assert result.exit_code == 0, result.output
    rows = {(r["op"], r["system"]): r for r in json.loads(result.output)}
    ours = rows[("matmul 16x16", "secured in-process")]
    assert ours["bytes_per_party"] == (16 * 16 * 2) * 8 and ours["rounds"] == 1
    assert rows[("relu 2^8", "secured in-process")]["rounds"] == 6


def test_bench_train_small_run():
    result = runner.invoke(app, ["bench", "train", "--rows", "200", "--repeat", "1", "--no-crypten", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["model"]: r for r in json.loads(result.output)}
    assert set(rows) == {"logistic regression", "feed-forward 20-10-5-1"}
    for r in rows.values():
        assert r["ours_s"] > 0 and r["crypten_s"] is None and r["rounds_per_epoch"] > 0
