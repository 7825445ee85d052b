"""Synthetic-data generators as Ray actors: one actor fits (on a GPU when the cluster has
one), any number load the fitted generator and sample in parallel.

The actor is a thin shell around ``secured.synth``: it receives the table (through the
object store), fits, and hands back the generator as JSON (``secured.synth.dumps``); a
sampling actor loads that JSON and returns rows for its seed.
"""

from __future__ import annotations

from typing import Any, Mapping

__all__ = ["GeneratorActor", "generator_actors", "cluster_gpus"]


class GeneratorActor:
    """Fit or load a generator, sample rows; see the module docstring."""

    def __init__(self) -> None:
        self.generator: Any = None

    def fit(self, table: Any, generator: str, params: Mapping[str, Any], fit_options: Mapping[str, Any]) -> bytes:
        from ..synth import MST, TVAE, GaussianCopula, TabDDPM, dumps

        kinds = {"copula": GaussianCopula, "tvae": TVAE, "tabddpm": TabDDPM, "mst": MST}
        options = dict(fit_options)
        if generator == "mst":
            from ..privacy.dp import BudgetLedger

            options["ledger"] = BudgetLedger(options.pop("ledger"), rho=options.pop("budget_rho", None))
        self.generator = kinds[generator](**params).fit(table, **options)
        return dumps(self.generator)

    def load(self, document: bytes) -> str:
        from ..synth import loads

        self.generator = loads(document)
        return getattr(self.generator, "device", "cpu")

    def sample(self, n: int, seed: int, conditions: Mapping[str, Any] | None = None) -> Any:
        return self.generator.sample(n, conditions=dict(conditions) if conditions else None, seed=seed)

    def device(self) -> str:
        try:
            import torch

            return "cuda" if torch.cuda.is_available() else "cpu"
        except ImportError:  # pragma: no cover - torch is a dependency
            return "cpu"


def cluster_gpus() -> float:
    """GPUs the connected Ray cluster has."""
    import ray

    return float(ray.cluster_resources().get("GPU", 0.0))


def generator_actors(count: int, gpus: str | float = "auto") -> list[Any]:
    """``count`` generator actors; ``gpus="auto"`` gives each one GPU when the cluster has
    enough of them (else none), a number asks for that share of a GPU per actor."""
    import ray

    if gpus == "auto":
        per = 1.0 if cluster_gpus() >= count else (cluster_gpus() / count if cluster_gpus() else 0.0)
    else:
        per = float(gpus)
    remote = ray.remote(num_cpus=1, num_gpus=per)(GeneratorActor)
    return [remote.remote() for _ in range(count)]
