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
    output: runs/job1              # metrics.json, model/ (each party's shares)
    reveal_model: false            # true also writes model.pt (revealed weights): deliberate

Progress goes to stdout; the metrics file and the model are written at the end, atomically.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ..exceptions import ConfigurationError

__all__ = ["load_config", "build_model", "run", "main"]

_TOP = {"parties", "label", "partition", "id_column", "transport", "model", "train", "output",
        "reveal_model", "timeout", "address"}
_TRAIN = {"epochs", "batch_size", "lr", "momentum", "weight_decay", "loss"}
_MODEL = {"layers", "activation", "seed"}


def load_config(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigurationError(f"No config file at {path}.")
    text = path.read_text()
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        config = yaml.safe_load(text)
    else:
        config = json.loads(text)
    if not isinstance(config, dict):
        raise ConfigurationError("The config must be a mapping.")
    for section, allowed in ((config, _TOP), (config.get("train", {}), _TRAIN), (config.get("model", {}), _MODEL)):
        unknown = sorted(set(section) - allowed)
        if unknown:
            raise ConfigurationError(f"Unknown config key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}.")
    for key in ("parties", "label", "model", "train", "output"):
        if key not in config:
            raise ConfigurationError(f"The config needs '{key}'.")
    if not isinstance(config["parties"], list) or not all(isinstance(p, dict) and "source" in p for p in config["parties"]):
        raise ConfigurationError("'parties' must be a list of {source: PATH} entries.")
    base = path.parent
    for party in config["parties"]:  # relative paths are relative to the config file
        source = Path(party["source"])
        party["source"] = str(source if source.is_absolute() else (base / source).resolve())
    config["output"] = str(Path(config["output"]) if Path(config["output"]).is_absolute()
                           else (base / config["output"]).resolve())
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
    torch.manual_seed(int(spec.get("seed", 0)))
    modules: list[Any] = []
    for i, (a, b) in enumerate(zip(layers, layers[1:])):
        modules.append(torch.nn.Linear(a, b).double())
        if i < len(layers) - 2:
            modules.append(acts[act]())
    return torch.nn.Sequential(*modules)


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def run(config: dict[str, Any], progress: bool = True) -> dict[str, Any]:
    from ..cluster import Cluster

    template = build_model(config["model"])
    train = {"momentum": 0.0, "weight_decay": 0.0, "loss": "bce", **config["train"]}
    out = Path(config["output"])
    start = time.perf_counter()
    resources = [p.get("resources") or {} for p in config["parties"]]
    with Cluster([p["source"] for p in config["parties"]], label=config["label"],
                 partition=config.get("partition", "horizontal"), id_column=config.get("id_column"),
                 transport=config.get("transport", "ray"), timeout=float(config.get("timeout", 120)),
                 address=config.get("address"), party_resources=resources) as cluster:
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

            from ..mpc import nn

            buffer = io.BytesIO()
            torch.save(nn.to_torch(model, template).state_dict(), buffer)
            revealed = buffer.getvalue()
    metrics = {**history, "seconds_total": time.perf_counter() - start,
               "parties": len(config["parties"]), "partition": config.get("partition", "horizontal")}
    out.mkdir(parents=True, exist_ok=True)
    final = out / "model"
    if final.exists():
        import shutil

        shutil.rmtree(final)
    os.replace(staging, final)
    if revealed is not None:
        _write_atomic(out / "model.pt", revealed)
    _write_atomic(out / "metrics.json", json.dumps(metrics, indent=2).encode())
    return metrics


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m secured.jobs.train CONFIG.(yaml|json)", file=sys.stderr)
        return 2
    try:
        metrics = run(load_config(argv[0]))
    except ConfigurationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({k: v for k, v in metrics.items() if k != "epochs"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
