"""Federation clients as Ray actors: each client's table is read inside its own actor (on the
node that holds it), trained there for each round, and only its update leaves the actor."""

from __future__ import annotations

from typing import Any

import ray

__all__ = ["ClientActor", "client_actors"]


@ray.remote
class ClientActor:
    """One federation client: its table stays in this actor."""

    def __init__(self, name: str, source: str, label: str, template: Any, seed: int, local: dict) -> None:
        from ..federation import TorchClient
        from .jobs.federate import client_table

        x, y = client_table(source, label)
        self.client = TorchClient(name, template, x, y, seed=seed, **local)
        self.features = x.shape[1]

    def n_features(self) -> int:
        return self.features

    def fit(self, rnd: int, params: list, config: dict):
        return self.client(rnd, params, config)


def client_actors(config: dict[str, Any], template: Any) -> dict[str, Any]:
    """One actor per client of a federation config; callables for ``Federation``."""
    from ..exceptions import ConfigurationError

    if not ray.is_initialized():
        ray.init(address=None, ignore_reinit_error=True, log_to_driver=False)
    actors = {c["name"]: ClientActor.remote(c["name"], c["source"], config["label"], template, i, config["local"])
              for i, c in enumerate(config["clients"])}
    for name, actor in actors.items():
        if ray.get(actor.n_features.remote()) != config["model"]["layers"][0]:
            raise ConfigurationError(f"model.layers starts with {config['model']['layers'][0]} inputs; client "
                                     f"{name!r} has another number of feature columns.")

    def call(actor):
        return lambda rnd, params, cfg: ray.get(actor.fit.remote(rnd, params, cfg))

    return {name: call(actor) for name, actor in actors.items()}
