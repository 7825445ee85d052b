"""Config-driven synthetic data on Ray: ``python -m secured.jobs.synth CONFIG`` (what ``ray job
submit -- python -m secured.jobs.synth CONFIG`` runs on a cluster, with RAY_ADDRESS set).

CONFIG (YAML or JSON)::

    input: data/train.parquet          # the real table (.csv or .parquet)
    generator: tabddpm                 # copula, tvae, tabddpm or mst (differentially private)
    params: {iterations: 4000}         # the generator's parameters (device: auto uses a GPU)
    discrete: []                       # columns modelled as categories although numeric
    dates: []                          # date columns
    identifiers: []                    # id columns left out of the model
    dp:                                # mst only: the guarantee, public domain and ledger
      {epsilon: 1.0, delta: 1.0e-6, domain: domain.json, ledger: ledger.json, budget_rho: 1.0}
    sample: {rows: 100000, actors: 4, seed: 0}   # rows sampled in parallel by that many actors
    evaluate:                          # optional: the evaluation of secured.synth.evaluate
      {holdout: null, holdout_share: 0.2, target: null, n_attacks: 500}
    hub:                               # optional, with SECURED_TOKEN: lake + inventory entry,
      {title: my-synthetic, tags: [], publish: null, access: sample}   # and the generator published
    output: runs/synth1
    gpus: auto                         # per actor: auto (one each when the cluster has them) or a number
    address: null

Without ``evaluate.holdout`` a share of the rows is held out before fitting (never seen by the
generator) so that the evaluation and its attacks have unseen real rows as control. Written
at the end, atomically: ``generator.json``, ``synthetic.parquet``, ``metrics.json`` and, with
an evaluation, ``evaluation.json`` and ``evaluation.html``. Progress goes to stderr, the final
metrics line to stdout.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, Literal, Optional

from pydantic import Field, StrictFloat, StrictInt, StrictStr

from ...exceptions import ConfigurationError
from ...io import write_bytes, write_json, write_table
from ._config import Strict, check_output_folder, job_main, read_config, require_hub_token, resolve

__all__ = ["SynthJobConfig", "load_config", "run", "main"]

Number = StrictFloat | StrictInt


class DPSpec(Strict):
    epsilon: Number = Field(gt=0)
    delta: Number = Field(gt=0, lt=1)
    domain: StrictStr
    ledger: StrictStr
    budget_rho: Optional[Number] = Field(default=None, gt=0)


class SampleSpec(Strict):
    rows: StrictInt = Field(ge=1, le=100_000_000)
    actors: StrictInt = Field(default=1, ge=1, le=256)
    seed: StrictInt = 0


class EvaluateSpec(Strict):
    holdout: Optional[StrictStr] = None
    holdout_share: Number = Field(default=0.2, gt=0, lt=1)
    target: Optional[StrictStr] = None
    n_attacks: StrictInt = Field(default=500, ge=10)


class RegisterSpec(Strict):
    title: StrictStr
    tags: list[StrictStr] = Field(default_factory=list)
    publish: Optional[StrictStr] = None
    access: Literal["sample", "download"] = "sample"


class SynthJobConfig(Strict):
    input: StrictStr
    generator: Literal["copula", "tvae", "tabddpm", "mst"]
    params: dict[StrictStr, Any] = Field(default_factory=dict)
    discrete: list[StrictStr] = Field(default_factory=list)
    dates: list[StrictStr] = Field(default_factory=list)
    identifiers: list[StrictStr] = Field(default_factory=list)
    dp: Optional[DPSpec] = None
    sample: SampleSpec
    evaluate: Optional[EvaluateSpec] = None
    hub: Optional[RegisterSpec] = None
    output: StrictStr
    gpus: StrictStr | Number = "auto"
    address: Optional[StrictStr] = None


def load_config(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    config = read_config(path, SynthJobConfig, "input, generator, sample, output, ...")
    if (config["generator"] == "mst") != (config["dp"] is not None):
        raise ConfigurationError("dp (epsilon, delta, domain, ledger) goes with generator mst, and mst needs it.")
    if config["generator"] == "mst" and {"epsilon", "delta", "domain"} & set(config["params"]):
        raise ConfigurationError("For mst, epsilon, delta and domain go under dp, not params.")
    if isinstance(config["gpus"], str) and config["gpus"] != "auto":
        raise ConfigurationError("gpus must be 'auto' or a number of GPUs per actor.")
    base = path.parent
    config["input"] = resolve(config["input"], base)
    if config["dp"]:
        for key in ("domain", "ledger"):
            config["dp"][key] = resolve(config["dp"][key], base)
    if config["evaluate"] and config["evaluate"]["holdout"]:
        config["evaluate"]["holdout"] = resolve(config["evaluate"]["holdout"], base)
    config["output"] = resolve(config["output"], base)
    check_output_folder(Path(config["output"]))
    if config["hub"]:
        require_hub_token()
    return config


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def run(config: dict[str, Any]) -> dict[str, Any]:
    import numpy as np
    import pandas as pd

    from ...io import read_json, read_table
    from ...synth import evaluate, loads, split_holdout, typed
    from ...synth.html import evaluation_html
    from ..session import ensure_ray
    from ..synth import generator_actors

    start = time.perf_counter()
    table = read_table(config["input"])
    params = dict(config["params"])
    fit_options: dict[str, Any] = {"identifiers": config["identifiers"] or None}
    dp = config["dp"]
    if dp:
        domain = read_json(dp["domain"], "domain file")
        if not isinstance(domain, dict):
            raise ConfigurationError("The domain file must hold a JSON object {column: public domain}.")
        params.update(epsilon=dp["epsilon"], delta=dp["delta"], domain=domain)
        fit_options.update(ledger=dp["ledger"], budget_rho=dp["budget_rho"])
        categorical = [c for c, spec in domain.items() if isinstance(spec, list) or
                       (isinstance(spec, dict) and "categories" in spec)]
        table = typed(table, discrete=categorical, dates=config["dates"])
    else:
        table = typed(table, discrete=config["discrete"], dates=config["dates"])
        fit_options["discrete_columns"] = config["discrete"] or None
    evaluation_spec = config["evaluate"]
    holdout = None
    if evaluation_spec:
        if evaluation_spec["holdout"]:
            holdout = typed(read_table(evaluation_spec["holdout"]), discrete=config["discrete"], dates=config["dates"])
        else:
            table, holdout = split_holdout(table, evaluation_spec["holdout_share"], config["sample"]["seed"])
    ensure_ray(config.get("address"))
    import ray

    actors = generator_actors(config["sample"]["actors"], config["gpus"])
    _say(f"fitting {config['generator']} on {len(table):,} rows ...")
    fitted = time.perf_counter()
    document = ray.get(actors[0].fit.remote(table, config["generator"], params, fit_options))
    fit_seconds = time.perf_counter() - fitted
    _say(f"fitted in {fit_seconds:.1f} s; sampling {config['sample']['rows']:,} rows on {len(actors)} actor(s) ...")
    ray.get([a.load.remote(document) for a in actors[1:]])
    sampled = time.perf_counter()
    counts = np.diff(np.linspace(0, config["sample"]["rows"], len(actors) + 1).round().astype(int))
    seeds = [config["sample"]["seed"] * 1_000_003 + i for i in range(len(actors))]
    parts = ray.get([a.sample.remote(int(c), s) for a, c, s in zip(actors, counts, seeds) if c > 0])
    rows = pd.concat(parts, ignore_index=True)
    sample_seconds = time.perf_counter() - sampled
    _say(f"sampled in {sample_seconds:.1f} s ({len(rows) / max(sample_seconds, 1e-9):,.0f} rows/s)")
    device = ray.get(actors[0].device.remote())
    for a in actors:
        ray.kill(a)
    generator = loads(document)
    out = Path(config["output"])
    out.mkdir(parents=True, exist_ok=True)
    metrics: dict[str, Any] = {"generator": config["generator"], "rows_fitted": int(len(table)),
                               "rows_sampled": int(len(rows)), "actors": len(actors), "device": device,
                               "fit_seconds": fit_seconds, "sample_seconds": sample_seconds,
                               "rows_per_second": len(rows) / max(sample_seconds, 1e-9)}
    report = None
    if evaluation_spec:
        _say("evaluating ...")
        report = evaluate(table, rows, holdout, target=evaluation_spec["target"],
                          n_attacks=evaluation_spec["n_attacks"], seed=config["sample"]["seed"])
        metrics["evaluation"] = {"k_marginal": report["k_marginal"], "detection_auroc": report["detection"]["auroc"],
                                 "memorizes": report["privacy"]["memorizes"]}
    write_bytes(document, out / "generator.json")
    write_table(rows, out / "synthetic.parquet")
    if report is not None:
        write_json(report, out / "evaluation.json")
        write_bytes(evaluation_html(report), out / "evaluation.html")
    if config["hub"]:
        metrics["registered"] = _register(config["hub"], rows, generator, report)
    metrics["seconds_total"] = time.perf_counter() - start
    write_json(metrics, out / "metrics.json")
    return metrics


def _register(spec: dict[str, Any], rows: Any, generator: Any, report: Any) -> dict[str, Any]:
    import os

    from ...hub import Hub, describe_table, synthetic_fields
    from ...synth import dumps

    token = os.environ["SECURED_TOKEN"]
    hub = Hub()
    described = {"generator": generator.name, "params": generator.get_params()}
    fields = describe_table(rows)
    fields.update(synthetic_fields(described, report))
    stored = hub.lake_put(token, f"synthetic/{spec['title']}", rows)
    dataset = hub.register_dataset(token, title=spec["title"], tags=spec["tags"], lake_object=stored["sha256"],
                                   location=f"lake:{stored['owner']}/{stored['name']}@{stored['version']}",
                                   run=f"ray job, generator {generator.name}", **fields)
    out = {"dataset": dataset, "lake": f"{stored['owner']}/{stored['name']}@{stored['version']}"}
    if spec["publish"]:
        made = fields["anonymization"]
        out["model_version"] = hub.publish_model(
            token, spec["publish"], dumps(generator), access=spec["access"], epsilon=made.get("epsilon"),
            delta=made.get("delta"), metrics={"kind": "synthetic-data generator", "generator": generator.name,
                                              **made.get("evaluation", {})},
            lineage={"generator": generator.name, "dataset": dataset})
    return out


def main(argv: list[str] | None = None) -> int:
    return job_main(argv, "secured.jobs.synth", load_config, run)


if __name__ == "__main__":
    sys.exit(main())
