"""Config-driven federation: ``python -m secured.jobs.federate CONFIG`` (what ``ray job submit --
python -m secured.jobs.federate CONFIG`` runs on a cluster) and ``secured federate run CONFIG``.

CONFIG (YAML or JSON)::

    clients:                             # one table per client, read where the client runs
      - {name: hospital-a, source: data/a.parquet}
      - {name: hospital-b, source: data/b.parquet}
    clusters: null                       # instead of clients, SMPC clusters (see below)
    label: readmitted                    # 0/1 column; every other column is a numeric feature
    model: {layers: [20, 16, 1], activation: relu, seed: 0}
    strategy: {name: fedavg, options: {}}   # fedavg fedavgm fedprox fedadam fedyogi fedadagrad median trimmed_mean krum
    norm_bound: null                     # bound each update's delta (L2)
    secure_aggregation: null             # {threshold: 2, bound: 1.0, max_examples: 100000}: the server sees sums only
    dp: null                             # {clip: 1.0, noise_multiplier: 1.2, delta: 1.0e-5, max_epsilon: 3.0, ledger: ledger.json}
    rounds: 10
    local: {epochs: 1, batch_size: 64, lr: 0.1}
    min_clients: null                    # default: every client
    timeout: null                        # seconds per client and round
    transport: threads                   # threads (one process) or ray (one actor per client)
    hub: null                            # {name: readmission-fed, visibility: members, readers: []}: the run's
                                         # record in the knowledge base after every round (SECURED_TOKEN)
    output: runs/fed1                    # run.json, params.npz, strategy.npz, model.json, model.pt

SMPC clusters (``clusters`` instead of ``clients``): each cluster is a group of parties, one
table per party, read by that party (a Ray party actor with ``transport: ray``); the cluster
trains on secret shares and its model stays shared: every party joins one secure sum with its
shares, so the aggregator learns only the aggregate (linear strategies only: FedAvg, FedAvgM,
FedProx, FedAdam, FedYogi, FedAdagrad). ``record_dp`` runs DP-SGD inside every cluster
(a linear model, ``model.layers: [features, 1]``) and charges each round to its ledger::

    clusters:
      - {name: north, parties: [data/n1.parquet, data/n2.parquet]}
      - {name: south, parties: [data/s1.parquet, data/s2.parquet]}
    record_dp: {sampling_rate: 0.05, clip: 1.0, noise_multiplier: 1.1, delta: 1.0e-5, max_epsilon: 3.0,
                ledger: ledger.json}

The run resumes from ``output`` when it stopped (a crash or a failed round): run the same
command again. Progress goes to stderr, the final summary line to stdout.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any, Literal, Optional

import numpy as np
from pydantic import Field, StrictFloat, StrictInt, StrictStr

from ...exceptions import BadInputError, ConfigurationError
from ...io import write_bytes, write_json
from ._config import Strict, check_output_folder, job_main, read_config, require_hub_token, resolve
from .train import ModelSpec, build_model

__all__ = ["FederateJobConfig", "load_config", "run", "main", "client_table"]

Number = StrictFloat | StrictInt


class ClientSpec(Strict):
    name: StrictStr = Field(min_length=1, max_length=64)
    source: StrictStr


class StrategySpec(Strict):
    name: StrictStr
    options: dict[StrictStr, Any] = Field(default_factory=dict)


class SecAggSpec(Strict):
    threshold: StrictInt = Field(ge=2)
    bound: Number = Field(gt=0)
    max_examples: StrictInt = Field(ge=1)


class DPSpec(Strict):
    clip: Number = Field(gt=0)
    noise_multiplier: Number = Field(gt=0)
    delta: Number = Field(gt=0, lt=1)
    max_epsilon: Number = Field(gt=0)
    ledger: StrictStr


class LocalSpec(Strict):
    epochs: StrictInt = Field(default=1, ge=1)
    batch_size: StrictInt = Field(default=64, ge=1)
    lr: Number = Field(default=0.1, gt=0)


class ClusterSpec(Strict):
    name: StrictStr = Field(min_length=1, max_length=64)
    parties: list[StrictStr] = Field(min_length=2, max_length=16)


class RecordDPSpec(Strict):
    sampling_rate: Number = Field(gt=0, le=1)
    clip: Number = Field(gt=0)
    noise_multiplier: Number = Field(gt=0)
    delta: Number = Field(gt=0, lt=1)
    max_epsilon: Number = Field(gt=0)
    ledger: StrictStr


class HubSpec(Strict):
    name: StrictStr
    visibility: Literal["all", "members"] = "members"
    readers: list[StrictStr] = Field(default_factory=list)


class FederateJobConfig(Strict):
    clients: Optional[list[ClientSpec]] = Field(default=None, min_length=1)
    clusters: Optional[list[ClusterSpec]] = Field(default=None, min_length=2)
    record_dp: Optional[RecordDPSpec] = None
    label: StrictStr
    model: ModelSpec
    strategy: StrategySpec
    norm_bound: Optional[Number] = Field(default=None, gt=0)
    secure_aggregation: Optional[SecAggSpec] = None
    dp: Optional[DPSpec] = None
    rounds: StrictInt = Field(ge=1, le=100_000)
    local: LocalSpec = Field(default_factory=LocalSpec)
    min_clients: Optional[StrictInt] = Field(default=None, ge=1)
    timeout: Optional[Number] = Field(default=None, gt=0)
    transport: Literal["threads", "ray"] = "threads"
    hub: Optional[HubSpec] = None
    output: StrictStr


def load_config(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    config = read_config(path, FederateJobConfig, "clients or clusters, label, model, strategy, rounds, output, ...")
    if (config["clients"] is None) == (config["clusters"] is None):
        raise ConfigurationError("Give either clients (one table each) or clusters (SMPC parties' tables), not both "
                                 "and not neither.")
    if config["clusters"] is not None:
        _check_clusters(config)
    elif config["record_dp"]:
        raise ConfigurationError("record_dp runs DP-SGD inside SMPC clusters: give clusters, or use dp "
                                 "(cluster-level) with clients.")
    names = [c["name"] for c in config["clients"] or config["clusters"]]
    if len(set(names)) != len(names):
        raise ConfigurationError("Two clients have the same name.")
    if config["secure_aggregation"] and config["dp"]:
        raise ConfigurationError("dp (cluster-level, noise added by the server to the sum) and secure_aggregation "
                                 "are separate options in this version; choose one.")
    base = path.parent
    for c in config["clients"] or []:
        c["source"] = resolve(c["source"], base)
    for c in config["clusters"] or []:
        c["parties"] = [resolve(src, base) for src in c["parties"]]
    for key in ("dp", "record_dp"):
        if config[key]:
            config[key]["ledger"] = resolve(config[key]["ledger"], base)
    config["output"] = resolve(config["output"], base)
    check_output_folder(Path(config["output"]))
    if config["hub"]:
        require_hub_token()
    return config


def _check_clusters(config: dict[str, Any]) -> None:
    """What SMPC clusters cannot combine with, said before any round."""
    from ...federation import build

    for key, why in (("secure_aggregation", "clusters are always summed securely (their models stay shared)"),
                     ("dp", "use record_dp (DP-SGD inside each cluster)"),
                     ("norm_bound", "bounding a cluster's update needs its model, which stays shared"),
                     ("min_clients", "every cluster takes part in every round")):
        if config[key]:
            raise ConfigurationError(f"{key} is not available with SMPC clusters: {why}.")
    if not build(config["strategy"]["name"], **config["strategy"]["options"]).linear:
        raise ConfigurationError(f"The {config['strategy']['name']} strategy needs each cluster's model, which stays "
                                 "secret under SMPC; use a linear strategy (fedavg, fedavgm, fedprox, fedadam, "
                                 "fedyogi, fedadagrad).")
    if config["record_dp"] and config["model"]["layers"][1:] != [1]:
        raise ConfigurationError("record_dp trains a linear model: set model.layers to [features, 1].")
    sizes = {len(c["parties"]) for c in config["clusters"]}
    if any(n > 8 for n in sizes):
        raise ConfigurationError("A cluster has at most 8 parties.")


def _hub_recorder(config: dict[str, Any], accountant: Any):
    """The knowledge base's copy of the run record, updated after every round."""
    if not config["hub"]:
        return None
    import os

    from ...hub import Hub

    hub, token, spec = Hub(), os.environ["SECURED_TOKEN"], config["hub"]

    def record(run: dict[str, Any]) -> None:
        hub.record_federation_run(token, spec["name"], strategy=str(run.get("strategy", config["strategy"]["name"])),
                                  status=run["status"], rounds_planned=run["rounds_planned"],
                                  rounds_completed=run["rounds_completed"], participants=run.get("clients", []),
                                  records=run["records"], epsilon=accountant.epsilon() if accountant else None,
                                  delta=config["dp"]["delta"] if config["dp"] else None,
                                  visibility=spec["visibility"], readers=spec["readers"])

    return record


def client_table(source: str, label: str) -> tuple[np.ndarray, np.ndarray]:
    """A client's features and 0/1 labels from its table (read where the client runs)."""
    import pandas as pd

    from ...io import read_table

    table = read_table(source)
    if label not in table.columns:
        raise BadInputError(f"A client's table has no label column {label!r}.")
    y = pd.to_numeric(table[label], errors="coerce")
    if y.isna().any() or not set(np.unique(y)) <= {0, 1}:
        raise BadInputError(f"The label column {label!r} must hold 0 and 1 only.")
    x = table.drop(columns=[label]).apply(pd.to_numeric, errors="coerce")
    if x.isna().any().any():
        bad = [c for c in x.columns if x[c].isna().any()]
        raise BadInputError(f"Feature column(s) {', '.join(map(repr, bad[:5]))} hold missing or non-numeric cells; "
                            "encode them first.")
    return x.to_numpy(np.float64), y.to_numpy(np.float64)


def _strategy(config: dict[str, Any], accountant: Any):
    from ...federation import ClusterDP, NormBound, SecureAggregation, build

    strategy = build(config["strategy"]["name"], **config["strategy"]["options"])
    if config["norm_bound"]:
        strategy = NormBound(strategy, config["norm_bound"])
    if config["secure_aggregation"]:
        strategy = SecureAggregation(strategy, **config["secure_aggregation"])
    if config["dp"]:
        dp = config["dp"]
        strategy = ClusterDP(strategy, clip=dp["clip"], noise_multiplier=dp["noise_multiplier"],
                             expected_clients=len(config["clients"]), accountant=accountant)
    return strategy


def _clients(config: dict[str, Any], template: Any) -> dict[str, Any]:
    from ...federation import TorchClient

    local = config["local"]
    if config["transport"] == "threads":
        out = {}
        for i, c in enumerate(config["clients"]):
            x, y = client_table(c["source"], config["label"])
            if x.shape[1] != config["model"]["layers"][0]:
                raise ConfigurationError(f"model.layers starts with {config['model']['layers'][0]} inputs; client "
                                         f"{c['name']!r} has {x.shape[1]} feature columns.")
            out[c["name"]] = TorchClient(c["name"], template, x, y, seed=i, **local)
        return out
    from ..federate import client_actors

    return client_actors(config, template)


def _stderr_progress(stage: str, done: int | None = None, total: int | None = None) -> None:
    print(stage if done is None else f"{stage}: {done}/{total}", file=sys.stderr, flush=True)


def _smpc_run(config: dict[str, Any], template: Any, initial: list, accountant: Any) -> dict[str, Any]:
    """The run over SMPC clusters: one session per cluster (threads, or party actors on Ray),
    each party reading its own table; sessions closed however the run ends."""
    from ...federation import SMPCCluster, SMPCFederation, build
    from ...mpc.training import PrivateTrainer

    timeout = float(config["timeout"] or 120.0)
    if config["transport"] == "ray":
        from ..session import RaySession

        def session(n: int):
            return RaySession(n, timeout=timeout)
    else:
        from ...mpc import Session

        def session(n: int):
            return Session(n, timeout=timeout)
    sessions, clusters = [], []
    dp = config["record_dp"]
    try:
        for spec in config["clusters"]:
            s = session(len(spec["parties"]))
            sessions.append(s)
            trainer = PrivateTrainer(s, spec["parties"], label=config["label"])
            if trainer.n_features != config["model"]["layers"][0]:
                raise ConfigurationError(f"model.layers starts with {config['model']['layers'][0]} inputs; cluster "
                                         f"{spec['name']!r} has {trainer.n_features} feature columns.")
            clusters.append(SMPCCluster(spec["name"], trainer, **config["local"],
                                        dp=None if dp is None else {k: dp[k] for k in
                                                                    ("sampling_rate", "clip", "noise_multiplier")}))
        fed = SMPCFederation(clusters, template, initial=initial, rounds=config["rounds"], run_dir=Path(config["output"]),
                             strategy=build(config["strategy"]["name"], **config["strategy"]["options"]),
                             accountant=accountant, progress=_stderr_progress,
                             on_record=_hub_recorder(config, accountant))
        return fed.run()
    finally:
        for s in sessions:
            s.close()


def run(config: dict[str, Any]) -> dict[str, Any]:
    from ...federation import Federation, PrivacyAccountant

    template = build_model(config["model"])
    initial = [p.detach().numpy().copy() for p in template.parameters()]
    accountant = None
    dp = config["dp"] or config["record_dp"]
    if dp:
        accountant = PrivacyAccountant(dp["ledger"], delta=dp["delta"], max_epsilon=dp["max_epsilon"])
    out = Path(config["output"])
    if config["clusters"]:
        result = _smpc_run(config, template, initial, accountant)
    else:
        fed = Federation(_strategy(config, accountant), _clients(config, template), initial=initial,
                         rounds=config["rounds"], run_dir=out, min_clients=config["min_clients"],
                         timeout=config["timeout"], accountant=accountant,
                         progress=_stderr_progress, on_record=_hub_recorder(config, accountant))
        result = fed.run()
    import torch

    with torch.no_grad():
        for p, value in zip(template.parameters(), result["params"]):
            p.copy_(torch.as_tensor(value))
    buffer = io.BytesIO()
    torch.save(template.state_dict(), buffer)
    write_bytes(buffer.getvalue(), out / "model.pt")
    write_json({"model": config["model"], "label": config["label"],
                "clients": [c["name"] for c in config["clients"] or config["clusters"]],
                "clusters": {c["name"]: len(c["parties"]) for c in config["clusters"]} if config["clusters"] else None,
                "strategy": config["strategy"], "rounds": config["rounds"], "local": dict(config["local"]),
                "dp": {k: v for k, v in (config["dp"] or {}).items() if k != "ledger"} or None,
                "record_dp": {k: v for k, v in (config["record_dp"] or {}).items() if k != "ledger"} or None,
                "secure_aggregation": bool(config["secure_aggregation"]) or bool(config["clusters"])},
               out / "model.json")
    record = result["record"]
    return {"rounds_completed": record["rounds_completed"], "status": record["status"],
            "epsilon": accountant.epsilon() if accountant else None, "output": str(out)}


def main(argv: list[str] | None = None) -> int:
    return job_main(argv, "secured.jobs.federate", load_config, run)


if __name__ == "__main__":
    sys.exit(main())
