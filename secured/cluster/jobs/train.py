"""Config-driven private training: ``python -m secured.jobs.train CONFIG`` (what ``ray job
submit -- python -m secured.jobs.train CONFIG`` runs on a cluster, with RAY_ADDRESS set) and
``secured mpc train CONFIG``.

CONFIG (YAML or JSON)::

    parties:                       # one entry per party; paths are read by that party
      - {source: data/hospital_a.csv}
      - {source: data/hospital_b.csv, resources: {party_1: 1}}   # optional node pinning
    label: readmitted
    partition: horizontal          # or vertical (then id_column is required)
    id_column: null
    transport: ray                 # ray (default) or threads (one process)
    model: {layers: [20, 10, 5, 1], activation: relu, seed: 0}   # Linear layers
    train: {epochs: 5, batch_size: 64, lr: 0.1, momentum: 0.9, weight_decay: 0.0, loss: bce}
    mpc: {protocol: auto, link: {latency: 0.0005, bandwidth: 1.0e9}}   # optional, see below
    output: runs/job1              # metrics.json, model/ (each party's shares)
    reveal_model: false            # true also writes model.pt (revealed weights): deliberate

``mpc.link`` describes the network between the parties (seconds per round, bytes per second):
the cost model picks each op's protocol for it (``secured.mpc.costs``); without it a Ray job
assumes direct links on one node or a LAN (0.5 ms per round, 1 GB/s) and a threads job a
link that costs nothing. ``mpc.protocol``: auto, classic, or fss (2 parties: the FSS gates,
including the spline gates for sigmoid and tanh, which assume |x| < 2^13).

Progress goes to stderr (the final metrics line to stdout); the metrics file and the model are written at the end, atomically.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Literal, Optional

from pydantic import Field, StrictBool, StrictFloat, StrictInt, StrictStr

from ...exceptions import ConfigurationError
from ...io import write_bytes, write_json
from ._config import Strict, check_output_folder, job_main, read_config, resolve

__all__ = ["JobConfig", "load_config", "build_model", "run", "main"]

Number = StrictFloat | StrictInt


_Strict = Strict


class PartySpec(_Strict):
    """One party of a job: its table and optional Ray resources."""
    source: StrictStr = Field(description="The party's table (.csv or .parquet), read by that party.")
    resources: dict[StrictStr, Number] = Field(default_factory=dict, description="Ray resources to pin the party.")


class ModelSpec(_Strict):
    """The MLP a job trains: Linear layer sizes and the activation between them."""
    layers: list[StrictInt] = Field(min_length=2, description="Linear layer sizes, input size first.")
    activation: Literal["relu", "sigmoid", "tanh"] = "relu"
    seed: StrictInt = 0


class TrainSpec(_Strict):
    """The optimization settings of a job (SGD with momentum and weight decay)."""
    epochs: StrictInt = Field(ge=1)
    batch_size: StrictInt = Field(ge=1)
    lr: Number = Field(gt=0)
    momentum: Number = Field(default=0.0, ge=0, lt=1)
    weight_decay: Number = Field(default=0.0, ge=0)
    loss: Literal["bce", "mse", "cross_entropy"] = "bce"


class LinkSpec(_Strict):
    """The network between the parties, for the cost model."""
    latency: Number = Field(ge=0, le=10, description="Seconds per round.")
    bandwidth: Number = Field(gt=0, description="Bytes per second.")


class MPCSpec(_Strict):
    """Protocol choice: auto (the cost model on ``link``), classic, or fss (2 parties)."""
    protocol: Literal["auto", "classic", "fss"] = "auto"
    link: Optional[LinkSpec] = None


RAY_LINK = {"latency": 0.0005, "bandwidth": 1.0e9}


class JobConfig(_Strict):
    """The job file's schema: unknown keys and wrongly typed values are errors (a quoted
    "false" is not a boolean), so a typo never changes what is written."""

    parties: list[PartySpec] = Field(min_length=2)
    label: StrictStr
    partition: Literal["horizontal", "vertical"] = "horizontal"
    id_column: Optional[StrictStr] = None
    transport: Literal["ray", "threads"] = "ray"
    model: ModelSpec
    train: TrainSpec
    output: StrictStr
    reveal_model: StrictBool = False
    timeout: Number = Field(default=120, gt=0)
    address: Optional[StrictStr] = None
    mpc: MPCSpec = Field(default_factory=MPCSpec)


def load_config(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    config = read_config(path, JobConfig, "parties, label, model, train, output, ...")
    if config["partition"] == "vertical" and not config["id_column"]:
        raise ConfigurationError("A vertical partition needs id_column.")
    if any(v <= 0 for v in config["model"]["layers"]):
        raise ConfigurationError("model.layers must be positive sizes.")
    for party in config["parties"]:  # relative paths are relative to the config file
        party["source"] = resolve(party["source"], path.parent)
    config["output"] = resolve(config["output"], path.parent)
    check_output_folder(Path(config["output"]))
    return config


def build_model(spec: dict[str, Any]):
    """A torch MLP from {layers: [in, h1, ..., out], activation: relu|sigmoid|tanh, seed}."""
    import torch

    layers = spec.get("layers")
    if not isinstance(layers, list) or len(layers) < 2 or not all(isinstance(v, int) and v > 0 for v in layers):
        raise ConfigurationError("model.layers must be a list of at least 2 positive ints (input size first).")
    acts = {"relu": torch.nn.ReLU, "sigmoid": torch.nn.Sigmoid, "tanh": torch.nn.Tanh}
    act = spec.get("activation", "relu")
    if act not in acts:
        raise ConfigurationError(f"model.activation must be one of {', '.join(acts)}; got {act!r}.")
    torch.manual_seed(int(spec.get("seed") or 0))
    modules: list[Any] = []
    for i, (a, b) in enumerate(zip(layers, layers[1:])):
        modules.append(torch.nn.Linear(a, b).double())
        if i < len(layers) - 2:
            modules.append(acts[act]())
    return torch.nn.Sequential(*modules)


def run(config: dict[str, Any], progress: bool = True) -> dict[str, Any]:
    from .. import Cluster

    template = build_model(config["model"])
    train = {"momentum": 0.0, "weight_decay": 0.0, "loss": "bce", **config["train"]}
    out = Path(config["output"])
    start = time.perf_counter()
    resources = [p.get("resources") or {} for p in config["parties"]]
    from ...mpc import Network

    mpc = config.get("mpc") or {}
    link = mpc.get("link") or (RAY_LINK if config.get("transport", "ray") == "ray" else None)
    with Cluster([p["source"] for p in config["parties"]], label=config["label"],
                 partition=config.get("partition", "horizontal"), id_column=config.get("id_column"),
                 transport=config.get("transport", "ray"), timeout=float(config.get("timeout", 120)),
                 address=config.get("address"), party_resources=resources, protocol=mpc.get("protocol", "auto"),
                 link=Network(**link) if link else None) as cluster:
        if cluster.n_features != config["model"]["layers"][0]:
            raise ConfigurationError(
                f"model.layers starts with {config['model']['layers'][0]} inputs but the parties' "
                f"tables have {cluster.n_features} feature columns.")
        history = cluster.fit(template, epochs=int(train["epochs"]), batch_size=int(train["batch_size"]),
                              lr=float(train["lr"]), momentum=float(train["momentum"]),
                              weight_decay=float(train["weight_decay"]), loss=train["loss"],
                              progress=progress)
        model = history.pop("model")
        staging = Path(tempfile.mkdtemp(dir=out.parent if out.parent.exists() else None, prefix=".model-"))
        cluster.save_shared(model, staging)
        revealed = None
        if config.get("reveal_model"):
            import io

            import torch

            from ...mpc import nn

            buffer = io.BytesIO()
            torch.save(nn.to_torch(model, template).state_dict(), buffer)
            revealed = buffer.getvalue()
    metrics = {**history, "seconds_total": time.perf_counter() - start,
               "parties": len(config["parties"]), "partition": config.get("partition", "horizontal")}
    out.mkdir(parents=True, exist_ok=True)
    final = out / "model"
    if final.exists():
        shutil.rmtree(final)
    staging.replace(final)
    if revealed is not None:
        write_bytes(revealed, out / "model.pt")
    else:
        (out / "model.pt").unlink(missing_ok=True)   # never leave an older run's revealed weights
    write_json(metrics, out / "metrics.json")
    return metrics


def main(argv: list[str] | None = None) -> int:
    return job_main(argv, "secured.jobs.train", load_config, run, lambda m: {k: v for k, v in m.items() if k != "epochs"})


if __name__ == "__main__":
    sys.exit(main())
