"""A federated run: rounds of configure -> client training -> aggregate -> evaluate, persisted
so that a crash or a failed round resumes where it stopped.

Clients are callables ``client(round, params, config) -> Update`` (a cluster's private
training, a hospital's local training, ``TorchClient`` below). Each round every client runs
in a thread with ``timeout`` seconds; a client that raises or times out is left out of the
round (its reason recorded by category, never its message: it may quote data), and a late
answer is ignored. With fewer than ``min_clients`` updates the round is recorded as failed
and ``RoundFailedError`` raised; ``run()`` again retries it.

``on_record(record)`` is called after every write of the record (the job passes the
knowledge base's ``Hub.record_federation_run``). The run folder holds ``run.json`` (settings, one record per round: participants, failures,
metrics, seconds, epsilon), ``params.npz`` (the global parameters after the last completed
round) and ``strategy.npz`` (the server state: momentum, moments), each written atomically
after the round, so a reader never sees a half-written round.

>>> import numpy as np, tempfile
>>> from secured.federation import FedAvg, Update
>>> def client(k):
...     return lambda rnd, params, config: Update([params[0] + k], 10, f"c{k}")
>>> fed = Federation(FedAvg(), {f"c{k}": client(k) for k in range(3)}, initial=[np.zeros(2)],
...                  rounds=2, run_dir=tempfile.mkdtemp())
>>> fed.run()["params"][0]
array([2., 2.])
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ..exceptions import BadInputError, ConfigurationError, PrivacyBudgetError, RoundFailedError, SecuredError
from ..progress import Progress, emit
from .strategies import Strategy, Update

__all__ = ["Federation", "TorchClient"]


def _save_arrays(arrays: Sequence[np.ndarray], path: Path) -> None:
    from ..io import atomic_write

    with atomic_write(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, *[np.asarray(a) for a in arrays])


def _load_arrays(path: Path) -> list[np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return [data[f"arr_{i}"] for i in range(len(data.files))]


class Federation:
    """Run ``rounds`` rounds of ``strategy`` over ``clients`` (see the module)."""

    def __init__(self, strategy: Strategy, clients: Mapping[str, Callable], *, initial: Sequence[np.ndarray],
                 rounds: int, run_dir: str | Path, min_clients: int | None = None, timeout: float | None = None,
                 accountant: Any = None, progress: Progress | None = None,
                 on_record: Callable[[dict], None] | None = None) -> None:
        if not hasattr(strategy, "aggregate") or not hasattr(strategy, "configure_round"):
            raise ConfigurationError("strategy must be a secured.federation strategy.")
        if not isinstance(clients, Mapping) or not clients or not all(callable(c) for c in clients.values()):
            raise ConfigurationError("clients must map names to callables (round, params, config) -> Update.")
        if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
            raise ConfigurationError("rounds must be a positive int.")
        self.min_clients = len(clients) if min_clients is None else min_clients
        if isinstance(self.min_clients, bool) or not isinstance(self.min_clients, int) or \
                not 1 <= self.min_clients <= len(clients):
            raise ConfigurationError(f"min_clients must be an int in [1, {len(clients)}].")
        if timeout is not None and not (isinstance(timeout, (int, float)) and timeout > 0):
            raise ConfigurationError("timeout must be a positive number of seconds.")
        self.strategy, self.clients, self.rounds = strategy, dict(clients), rounds
        self.initial = [np.asarray(p) for p in initial]
        self.run_dir, self.timeout, self.accountant, self.progress = Path(run_dir), timeout, accountant, progress
        self.on_record = on_record

    # -- persistence --------------------------------------------------------------------------------
    @property
    def record_path(self) -> Path:
        return self.run_dir / "run.json"

    def status(self) -> dict[str, Any]:
        """The run's record (what ``secured federate status`` shows)."""
        if not self.record_path.exists():
            return {"rounds_planned": self.rounds, "rounds_completed": 0, "records": [], "status": "new"}
        return json.loads(self.record_path.read_text())

    def _write(self, record: dict[str, Any]) -> None:
        from ..io import write_json

        write_json(record, self.record_path)
        if self.on_record is not None:       # e.g. the knowledge base's copy of the run
            self.on_record(record)

    def _state_arrays(self) -> tuple[list[str], list[np.ndarray]]:
        names, arrays = [], []
        for key, value in self.strategy.state().items():
            if value is None:
                continue
            for i, a in enumerate(value):
                names.append(f"{key}:{i}")
                arrays.append(a)
        return names, arrays

    def _restore(self, record: dict[str, Any]) -> list[np.ndarray]:
        params = _load_arrays(self.run_dir / "params.npz")
        names = record.get("strategy_state", [])
        if names:
            arrays = _load_arrays(self.run_dir / "strategy.npz")
            state: dict[str, list] = {}
            for name, a in zip(names, arrays):
                key = name.split(":")[0]
                state.setdefault(key, []).append(a)
            self.strategy.load_state(state)
        return params

    # -- the rounds ---------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        """Run (or resume) every remaining round; the final parameters and the record."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        record = self.status()
        if record["status"] == "new":
            record = {"rounds_planned": self.rounds, "rounds_completed": 0, "records": [], "status": "running",
                      "strategy": getattr(self.strategy, "name", type(self.strategy).__name__),
                      "clients": sorted(self.clients), "min_clients": self.min_clients}
            params = [p.copy() for p in self.initial]
        else:
            if record["rounds_planned"] != self.rounds or record.get("clients") != sorted(self.clients):
                raise ConfigurationError("The run folder holds another run (other rounds or clients); use a new "
                                         "folder.")
            params = self._restore(record) if record["rounds_completed"] else [p.copy() for p in self.initial]
        for rnd in range(record["rounds_completed"] + 1, self.rounds + 1):
            params = self._round(rnd, params, record)
        record["status"] = "completed"
        self._write(record)
        return {"params": params, "record": record}

    def _round(self, rnd: int, params: list[np.ndarray], record: dict[str, Any]) -> list[np.ndarray]:
        start = time.perf_counter()
        names = sorted(self.clients)
        config = self.strategy.configure_round(rnd, names)
        emit(self.progress, f"round {rnd} of {self.rounds}", rnd - 1, self.rounds)
        updates, failures = self._collect(rnd, params, config, names)
        entry: dict[str, Any] = {"round": rnd, "participants": [u.client for u in updates],
                                 "failures": failures}
        if len(updates) < self.min_clients:
            entry.update(status="failed", reason=f"{len(updates)} updates, {self.min_clients} needed")
            self._failed(record, entry)
            raise RoundFailedError(f"Round {rnd} got {len(updates)} updates; {self.min_clients} are needed. It is "
                                   "recorded as failed; run again to retry it.")
        try:
            new = self.strategy.aggregate(rnd, iter(updates), params)
        except PrivacyBudgetError:
            entry.update(status="failed", reason="privacy budget")
            self._failed(record, entry)
            raise
        except SecuredError as exc:
            entry.update(status="failed", reason=type(exc).__name__)
            self._failed(record, entry)
            raise
        metrics = self.strategy.evaluate(rnd, new)
        entry.update(status="completed", metrics=metrics, seconds=time.perf_counter() - start)
        if self.accountant is not None:
            entry["epsilon"] = self.accountant.epsilon()
        names_state, arrays_state = self._state_arrays()
        _save_arrays(new, self.run_dir / "params.npz")
        if arrays_state:
            _save_arrays(arrays_state, self.run_dir / "strategy.npz")
        record["strategy_state"] = names_state
        record["records"] = [r for r in record["records"] if r["round"] != rnd] + [entry]
        record["rounds_completed"] = rnd
        self._write(record)
        emit(self.progress, f"round {rnd} of {self.rounds}", rnd, self.rounds)
        return new

    def _failed(self, record: dict[str, Any], entry: dict[str, Any]) -> None:
        record["records"] = [r for r in record["records"] if r["round"] != entry["round"]] + [entry]
        record["status"] = "failed"
        self._write(record)

    def _collect(self, rnd, params, config, names) -> tuple[list[Update], list[dict[str, str]]]:
        updates, failures = [], []
        pool = cf.ThreadPoolExecutor(max_workers=len(names))
        try:
            futures = {pool.submit(self.clients[n], rnd, [p.copy() for p in params], dict(config)): n for n in names}
            done, pending = cf.wait(futures, timeout=self.timeout)
            for f in pending:
                failures.append({"client": futures[f], "reason": "timeout"})
                f.cancel()
            for f in done:
                name = futures[f]
                exc = f.exception()
                if exc is not None:
                    failures.append({"client": name, "reason": type(exc).__name__})
                    continue
                update = f.result()
                if not isinstance(update, Update) or update.client != name:
                    failures.append({"client": name, "reason": "malformed update"})
                    continue
                updates.append(update)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        updates.sort(key=lambda u: u.client)
        failures.sort(key=lambda f: f["client"])
        return updates, failures


class TorchClient:
    """Local training of a torch model on one client's arrays, as a federation client: the
    global parameters are loaded, ``epochs`` of minibatch SGD run (with FedProx's proximal
    term when the round's config has ``proximal_mu``), the new parameters returned."""

    def __init__(self, name: str, template: Any, x: np.ndarray, y: np.ndarray, *, epochs: int = 1,
                 batch_size: int = 64, lr: float = 0.1, seed: int = 0, loss: str = "bce") -> None:
        import torch

        if not isinstance(template, torch.nn.Module):
            raise ConfigurationError("template must be a torch.nn.Module.")
        if len(x) != len(y) or len(x) == 0:
            raise BadInputError(f"Client {name!r} has no rows or mismatched features and labels.")
        self.name, self.template, self.epochs, self.batch_size, self.lr = name, template, epochs, batch_size, lr
        dtype = next(template.parameters()).dtype
        self.x = torch.as_tensor(np.array(x, dtype=np.float64)).to(dtype)
        self.y = torch.as_tensor(np.array(y, dtype=np.float64)).to(dtype).reshape(-1, 1)
        self.seed, self.loss = seed, loss

    def __call__(self, rnd: int, params: list[np.ndarray], config: dict) -> Update:
        import copy

        import torch

        model = copy.deepcopy(self.template)
        with torch.no_grad():
            for p, value in zip(model.parameters(), params):
                p.copy_(torch.as_tensor(value))
        anchor = [p.detach().clone() for p in model.parameters()]
        mu = float(config.get("proximal_mu", 0.0))
        opt = torch.optim.SGD(model.parameters(), lr=self.lr)
        from ..mpc.training import batch_order

        lossf = torch.nn.BCEWithLogitsLoss()
        for epoch in range(self.epochs):   # the project's public batch order (ChaCha20), per client and round
            order = torch.as_tensor(batch_order(len(self.x), self.seed * 100_003 + rnd, epoch))
            for i in range(0, len(order), self.batch_size):
                idx = order[i:i + self.batch_size]
                opt.zero_grad()
                loss = lossf(model(self.x[idx]), self.y[idx])
                if mu > 0:
                    loss = loss + mu / 2 * sum(((p - a) ** 2).sum() for p, a in zip(model.parameters(), anchor))
                loss.backward()
                opt.step()
        out = [p.detach().numpy().astype(v.dtype, copy=True) for p, v in zip(model.parameters(), params)]
        return Update(out, len(self.x), self.name)
