"""``secured federate run|status|publish``: federated training from a config, its status, and
publication in the registry behind a membership-inference gate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..exceptions import BadInputError, ConfigurationError
from ._common import console, err_console
from ._common import exit_with as _exit_with

federate_app = typer.Typer(help="Federation: aggregate clients' models (robust strategies, secure aggregation, "
                                "cluster-level DP), check them with membership inference, publish them.",
                           no_args_is_help=True)


def run_cmd(config: Annotated[str, typer.Argument(help="YAML or JSON config (see secured.cluster.jobs.federate).")]
            ) -> None:
    """Run (or resume) the federation of a config file."""
    from ..cluster.jobs.federate import main

    raise typer.Exit(main([config]))


def status_cmd(run_dir: Annotated[str, typer.Argument(help="The run's output folder.")]) -> None:
    """Rounds completed, failed rounds with their reasons, epsilon per round."""
    def body() -> int:
        path = Path(run_dir) / "run.json"
        if not path.is_file():
            raise BadInputError("No run.json in that folder: is it a federation run's output?")
        record = json.loads(path.read_text())
        console.print(f"{record['status']}: {record['rounds_completed']} of {record['rounds_planned']} rounds "
                      f"({record.get('strategy')}, {len(record.get('clients', []))} clients)")
        for r in record["records"]:
            extra = f", epsilon {r['epsilon']:.3f}" if r.get("epsilon") is not None else ""
            failed = ", ".join(f"{f['client']} ({f['reason']})" for f in r.get("failures", []))
            console.print(f"round {r['round']}: {r['status']}, {len(r['participants'])} updates{extra}"
                          + (f"; left out: {failed}" if failed else "") + (f"; {r['reason']}" if r.get("reason") else ""))
        return 0 if record["status"] == "completed" else 1

    _exit_with(body)


def publish_cmd(
    run_dir: Annotated[str, typer.Argument(help="A completed run's output folder.")],
    name: Annotated[str, typer.Option(help="Model name in the registry.")],
    members: Annotated[str, typer.Option(help="Training rows (table with the label) the attack tries to spot.")],
    non_members: Annotated[str, typer.Option(help="Rows of the same population the model never saw.")],
    max_auc: Annotated[float, typer.Option(help="Refuse when an attack's AUC upper bound reaches this.")] = 0.6,
    max_tpr: Annotated[float, typer.Option(help="Refuse when an attack finds this share of members at 0.1% "
                                                 "false positives.")] = 0.01,
    ledger: Annotated[Optional[str], typer.Option(help="The run's privacy ledger (DP runs): its epsilon is "
                                                       "published.")] = None,
    visibility: Annotated[str, typer.Option(help="all, members or private.")] = "all",
    licence: Annotated[Optional[str], typer.Option(help="Licence of the model.")] = None,
    population: Annotated[Optional[str], typer.Option(help="Rows of the population neither set holds: reference "
                                                           "models are trained on them for LiRA and RMIA (stronger "
                                                           "at low false positive rates than the loss attack).")] = None,
    reference_models: Annotated[int, typer.Option(help="Reference models for LiRA and RMIA (with --population).",
                                                  min=2, max=64)] = 4,
) -> None:
    """Attack the run's model with membership inference (loss; LiRA and RMIA with
    --population); publish it only if every attack passes."""
    from ..cluster.jobs.federate import client_table
    from ..cluster.jobs.train import build_model
    from ..federation import gate, membership_inference
    from .hub import _token

    def body() -> int:
        import torch

        token = _token(None)
        folder = Path(run_dir)
        meta_path, weights = folder / "model.json", folder / "model.pt"
        if not meta_path.is_file() or not weights.is_file():
            raise BadInputError("The folder has no model.json and model.pt: run `secured federate run` to the end.")
        meta = json.loads(meta_path.read_text())
        model = build_model(meta["model"])
        try:
            model.load_state_dict(torch.load(weights, weights_only=True))
        except Exception:
            raise BadInputError("model.pt does not fit the model described in model.json.") from None
        model.eval()
        xm, ym = client_table(members, meta["label"])
        xn, yn = client_table(non_members, meta["label"])

        def proba(x):
            with torch.no_grad():
                p = torch.sigmoid(model(torch.tensor(x, dtype=torch.float64))).numpy().reshape(-1)
            return __import__("numpy").column_stack([1 - p, p])

        extra = {}
        if population:
            xp, yp = client_table(population, meta["label"])
            extra = {"train_fn": _reference_trainer(meta), "population": (xp, yp.astype(int)),
                     "reference_models": reference_models}
        result = membership_inference(proba, (xm, ym.astype(int)), (xn, yn.astype(int)), **extra)
        ok, why = gate(result, max_auc=max_auc, max_tpr_at_low_fpr=max_tpr)
        for attack in ("loss", "lira", "rmia"):
            if attack in result:
                r = result[attack]
                console.print(f"membership inference ({attack}): AUC {r['auc']:.3f} [{r['auc_ci'][0]:.3f}, "
                              f"{r['auc_ci'][1]:.3f}], TPR at 0.1% FPR {r['tpr_at_0.1%_fpr']:.4f}")
        if not ok:
            err_console.print(f"[red]not published:[/] {why}")
            return 2
        epsilon = delta = None
        if ledger:
            from ..io import read_json

            data = read_json(ledger, "privacy ledger")
            if not isinstance(data, dict) or "epsilon" not in data:
                raise BadInputError("The ledger file is not a federation privacy ledger.")
            epsilon, delta = float(data["epsilon"]), float(data["delta"])
        elif meta.get("dp") or meta.get("record_dp"):
            raise ConfigurationError("The run used DP: give --ledger so that its epsilon is published with it.")
        from ..hub import Hub

        run = json.loads((folder / "run.json").read_text())
        version = Hub().publish_model(
            token, name, weights.read_bytes(), epsilon=epsilon, delta=delta, licence=licence, visibility=visibility,
            membership_inference={**{a: result[a] for a in ("loss", "lira", "rmia") if a in result},
                                  "gate": {"max_auc": max_auc, "max_tpr": max_tpr}},
            metrics={"rounds": run["rounds_completed"]},
            lineage={"clients": meta["clients"], "clusters": meta.get("clusters"), "record_dp": meta.get("record_dp"),
                     "strategy": meta["strategy"], "rounds": meta["rounds"],
                     "secure_aggregation": meta["secure_aggregation"], "dp": meta["dp"]})
        console.print(f"published {name} version {version}")
        return 0

    _exit_with(body)


def _reference_trainer(meta: dict):
    """The attacker's reference training: the run's procedure (FedAvg over as many clients as
    the run had, its rounds and local SGD settings, a fresh model of its architecture) on a
    sample of the population; returns predict_proba. A DP run's references are trained without
    noise (the attack is then no weaker for the private model than for a non-private one)."""
    import tempfile

    import numpy as np

    from ..cluster.jobs.train import build_model
    from ..federation import FedAvg, Federation, TorchClient

    def train(xs, ys, seed):
        import torch

        torch.manual_seed(seed)
        template = build_model(meta["model"])
        initial = [p.detach().numpy().copy() for p in template.parameters()]
        parts = np.array_split(np.arange(len(xs)), max(1, min(len(meta["clients"]), len(xs) // 10)))
        clients = {f"r{k}": TorchClient(f"r{k}", template, xs[p], ys[p], seed=seed * 1000 + k,
                                        **meta.get("local", {})) for k, p in enumerate(parts)}
        with tempfile.TemporaryDirectory(prefix="secured-mia-") as folder:
            params = Federation(FedAvg(), clients, initial=initial, rounds=int(meta["rounds"]), run_dir=folder).run()[
                "params"]
        with torch.no_grad():
            for p, value in zip(template.parameters(), params):
                p.copy_(torch.as_tensor(value))
        template.eval()

        def proba(x):
            with torch.no_grad():
                out = torch.sigmoid(template(torch.tensor(x, dtype=next(template.parameters()).dtype))).numpy()
            return np.column_stack([1 - out.reshape(-1), out.reshape(-1)])
        return proba

    return train


def register(app: typer.Typer) -> None:
    federate_app.command("run")(run_cmd)
    federate_app.command("status")(status_cmd)
    federate_app.command("publish")(publish_cmd)
    app.add_typer(federate_app, name="federate")
