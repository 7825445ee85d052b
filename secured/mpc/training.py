"""Private training and inference on tables the parties hold: the SMPC side of a cluster.

``PrivateTrainer(session, sources, label=...)`` works on any SMPC session (threads in one
process, or the Ray actors of ``secured.cluster``): each party loads its own partition inside
its own process (a path on its machine, a DataFrame or a callable run there). Horizontal
partitions hold different patients with the same columns (label included); vertical
partitions hold different columns of the same patients, aligned on an id column by keyed
hashes (then ordered by id), with the label at one party. Features and labels are
secret-shared by their owners; training runs on shares (``secured.mpc.nn``); the driver sees
the shapes, the timing and what is revealed on purpose. ``secured.cluster.Cluster`` is this
class with the session built for you.

>>> import numpy as np, pandas as pd, torch
>>> from secured.mpc import Session
>>> grid = np.linspace(-1, 1, 240).reshape(80, 3)
>>> table = pd.DataFrame(grid, columns=["a", "b", "c"]).assign(y=lambda t: (t.a > 0) * 1.0)
>>> with Session(2) as s:
...     trainer = PrivateTrainer(s, [table.iloc[:40], table.iloc[40:]], label="y")
...     run = trainer.fit(torch.nn.Sequential(torch.nn.Linear(3, 1)).double(), epochs=2, batch_size=20, lr=0.5)
...     len(run["epochs"])
2
"""

from __future__ import annotations

import hashlib
import math
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..exceptions import ConfigurationError
from ..progress import Progress, emit
from . import nn
from .session import BaseSession

__all__ = ["PrivateTrainer", "LOSSES", "batch_order", "plaintext_fit"]

LOSSES = {"bce": nn.BCEWithLogitsLoss, "mse": nn.MSELoss, "cross_entropy": nn.CrossEntropyLoss}
_TABLE = "__table"


def batch_order(n_rows: int, seed: int, epoch: int) -> np.ndarray:
    """The public row order of ``epoch``: a permutation drawn from the ChaCha20 PRG keyed by
    ``seed``, so that a plaintext run can replay exactly the same batches."""
    from ..backend import get_backend

    key = hashlib.sha256(f"secured-batch-order:{seed}".encode()).digest()
    words = get_backend(name="numpy").prg(key, epoch, n_rows)
    return np.argsort(words, kind="stable")


class PrivateTrainer:
    """Joint training and inference over the parties' tables (see the module docstring)."""

    def __init__(self, session: BaseSession, sources: list[Any], *, label: str, partition: str = "horizontal",
                 id_column: str | None = None) -> None:
        if not isinstance(session, BaseSession):
            raise ConfigurationError("PrivateTrainer needs an SMPC session (secured.mpc.Session or RaySession).")
        if not isinstance(sources, (list, tuple)) or len(sources) != session.n_parties:
            raise ConfigurationError(f"Give one source per party: the session has {session.n_parties} parties.")
        if partition not in ("horizontal", "vertical"):
            raise ConfigurationError(f"'partition' must be 'horizontal' or 'vertical'; got {partition!r}.")
        if partition == "vertical" and not id_column:
            raise ConfigurationError("A vertical partition needs 'id_column' to align the parties' rows.")
        self.session = session
        self.n_parties = session.n_parties
        self.partition, self.label, self.id_column = partition, label, id_column
        self._load(list(sources))

    def _load(self, sources: list[Any]) -> None:
        s, n = self.session, self.n_parties
        meta = s.party_call("load_table", [(_TABLE, src) for src in sources])
        columns = [set(m[1]) for m in meta]
        exclude = [c for c in (self.label, self.id_column) if c]
        if self.partition == "vertical":
            if any(self.id_column not in cols for cols in columns):
                raise ConfigurationError(f"Every party's table needs the id column {self.id_column!r}.")
            owners = [r for r, cols in enumerate(columns) if self.label in cols]
            if len(owners) != 1:
                raise ConfigurationError(
                    f"In a vertical partition exactly one party holds the label {self.label!r}; found {len(owners)}.")
            self.label_owner = owners[0]
            self.n_rows = s.party_call("align", [(_TABLE, self.id_column)] * n)[0]
            if self.n_rows == 0:
                raise ConfigurationError("The parties share no ids: nothing to train on.")
        else:
            missing = [r for r, cols in enumerate(columns) if self.label not in cols]
            if missing:
                raise ConfigurationError(f"Party/parties {missing} lack the label column {self.label!r}.")
            feature_sets = [sorted(cols - set(exclude)) for cols in columns]
            if any(f != feature_sets[0] for f in feature_sets):
                raise ConfigurationError("In a horizontal partition every party needs the same feature columns.")
        shapes = s.party_call("columns", [(_TABLE, "X", None, exclude)] * n)
        blocks = [s.input_from(r, "X") for r in range(n)]
        if self.partition == "horizontal":
            s.party_call("columns", [(_TABLE, "y", [self.label], [])] * n)
            self.X = s.concat(blocks, axis=0)
            self.y = s.concat([s.input_from(r, "y") for r in range(n)], axis=0)
            self.n_rows = sum(shape[0] for shape in shapes)
        else:
            s.party_call("columns", [(_TABLE if r == self.label_owner else None, "y", [self.label], [])
                                     for r in range(n)])
            self.X = s.concat(blocks, axis=1)
            self.y = s.input_from(self.label_owner, "y")
        self.n_features = self.X.shape[1]

    # ------------------------------------------------------------------ training
    def _model(self, model: Any) -> nn.Module:
        if isinstance(model, nn.Module):
            return model
        return nn.from_torch(model, self.session)

    def fit(self, model: Any, *, epochs: int, batch_size: int, lr: float, momentum: float = 0.0,
            weight_decay: float = 0.0, loss: str = "bce", shuffle_seed: int | None = 0,
            progress: Progress | None = None) -> dict[str, Any]:
        """Train ``model`` (a torch module, converted, or a secured.mpc.nn model) on the shared
        data; returns the trained secured model in ``history['model']`` and per-epoch times.
        ``progress`` follows ``secured.progress`` (batches counted, one status line per epoch).
        The batch order is public: ``batch_order(rows, shuffle_seed, epoch)`` (None keeps
        the row order)."""
        for name, value in (("epochs", epochs), ("batch_size", batch_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigurationError(f"The '{name}' parameter of fit must be an int >= 1. Got {value!r} instead.")
        if loss not in LOSSES:
            raise ConfigurationError(f"Unknown loss {loss!r}; choose one of {', '.join(LOSSES)}.")
        smodel = self._model(model).train()
        opt = nn.SGD(smodel.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
        criterion = LOSSES[loss]()
        history: dict[str, Any] = {"epochs": [], "rows": self.n_rows, "features": self.n_features}
        batches = -(-self.n_rows // batch_size)
        done = 0
        for epoch in range(epochs):
            order = np.arange(self.n_rows) if shuffle_seed is None else batch_order(self.n_rows, shuffle_seed, epoch)
            start = time.perf_counter()
            for i in range(0, self.n_rows, batch_size):
                idx = order[i:i + batch_size]
                out = smodel(self.X[idx])
                grad, scale = criterion.grad_parts(out, self.y[idx])   # the 1 / batch joins the lr
                if isinstance(smodel, nn.Sequential):          # the data needs no gradient
                    smodel.backward(grad, input_grad=False)
                else:
                    smodel.backward(grad)
                opt.step(grad_scale=scale)
                opt.zero_grad()
                done += 1
                emit(progress, "training batches (SMPC)", done, epochs * batches)
            self.session.sync()                             # the epoch's last ops are done
            seconds = time.perf_counter() - start
            history["epochs"].append({"epoch": epoch + 1, "seconds": seconds})
            emit(progress, f"epoch {epoch + 1} of {epochs}: {seconds:.2f} s")
        history["model"] = smodel.eval()
        return history

    def fit_dp(self, model: Any, *, epochs: int, sampling_rate: float, clip: float, noise_multiplier: float,
               lr: float, seed: int | None = None, progress: Progress | None = None) -> dict[str, Any]:
        """Record-level DP-SGD (Abadi et al. 2016) for a linear model (a torch ``Linear(F, 1)``,
        logistic loss), all on shares: each step draws a Poisson sample of rows (rate
        ``sampling_rate``, from a secret seed), computes every sampled row's gradient
        e_i [x_i, 1] (e_i = sigmoid(w x_i + b) - y_i) and its squared norm, scales it by
        min(1, clip / norm) (under SMPC, with a 1% margin for the approximate rsqrt, so the
        clipped norm stays below ``clip``), sums, and every party adds its own discrete Gaussian
        noise to its share of the sum, with standard deviation noise_multiplier * clip /
        sqrt(parties - 1): whatever a single party knows of the noise, what it does not know
        still has standard deviation noise_multiplier * clip. The step divides by the expected
        batch size. Returns the shared ``parameters`` (weight (1, F) and bias (1,), torch's
        order) and ``steps``; the caller accounts
        PoissonSampled(sampling_rate, Gaussian(noise_multiplier)) composed ``steps`` times.
        Batches are known to the cluster (its driver and parties), who see no gradient in
        plaintext; the guarantee is about the models the cluster releases."""
        import secrets as _secrets

        import torch

        if not isinstance(model, torch.nn.Linear) or model.out_features != 1:
            raise ConfigurationError("fit_dp trains a torch.nn.Linear(features, 1) (logistic regression); per-row "
                                     "gradients of deeper models are not computed under SMPC yet.")
        for name, value, low, high in (("sampling_rate", sampling_rate, 0.0, 1.0), ("clip", clip, 0.0, 1e3),
                                       ("noise_multiplier", noise_multiplier, 0.0, 1e3), ("lr", lr, 0.0, 1e3)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not low < value <= high:
                raise ConfigurationError(f"The '{name}' parameter of fit_dp must be a number in ({low:g}, {high:g}].")
        if self.session.n_parties < 2:
            raise ConfigurationError("fit_dp needs at least 2 parties to split the noise.")
        if model.in_features != self.n_features:
            raise ConfigurationError(f"The model takes {model.in_features} features; the tables have "
                                     f"{self.n_features}.")
        from ..backend import get_backend

        # Poisson sampling from the ChaCha20 PRG: a secret key unless a seed is given (tests)
        key = _secrets.token_bytes(32) if seed is None else hashlib.sha256(f"secured-dp-sgd:{seed}".encode()).digest()
        prg = get_backend(name="numpy")
        cut = np.uint64(min(int(sampling_rate * 2.0 ** 64), 2 ** 64 - 1))
        w = self.session.share(model.weight.detach().double().numpy().T)        # (F, 1)
        b = self.session.share(model.bias.detach().double().numpy().reshape(1, 1))
        f = self.session.fractional_bits
        c_eff = 0.99 * clip
        eps = (clip / 10.0) ** 2
        party_sigma = noise_multiplier * clip / math.sqrt(self.session.n_parties - 1) * 2.0 ** f
        expected = sampling_rate * self.n_rows
        steps = max(1, int(round(epochs / sampling_rate)))
        for step in range(steps):
            idx = np.flatnonzero(np.asarray(prg.prg(key, step, self.n_rows), dtype=np.uint64) < cut)
            if len(idx):
                x = self.X[idx]                                               # (B, F)
                err = (x @ w + b).sigmoid() - self.y[idx].reshape(len(idx), 1)  # (B, 1)
                norm2 = (x * x).sum(axis=1).reshape(len(idx), 1) + 1.0
                s = err * err * norm2 + eps
                c = s.rsqrt() * c_eff
                scale = c - (c - 1.0).relu()                                  # min(1, c)
                e = err * scale
                gw = x.T @ e                                                  # (F, 1)
                gb = e.sum(axis=0).reshape(1, 1)
            else:
                gw = self.session.share(np.zeros((self.n_features, 1)))
                gb = self.session.share(np.zeros((1, 1)))
            gw = self.session.run("add_noise", gw, party_sigma)
            gb = self.session.run("add_noise", gb, party_sigma)
            w = w - gw * (lr / expected)
            b = b - gb * (lr / expected)
            emit(progress, "DP-SGD steps (SMPC)", step + 1, steps)
        return {"parameters": [w.T, b.reshape(1)], "steps": steps, "sampling_rate": sampling_rate,
                "noise_multiplier": noise_multiplier, "clip": clip, "rows": self.n_rows}

    def predict(self, model: Any, owner: int, source: Any) -> np.ndarray:
        """Private inference: party ``owner`` loads ``source`` (its own rows, with the
        training feature columns) and shares it; the model stays shared; the driver receives
        the outputs."""
        s, n = self.session, self.n_parties
        s._check_owner(owner)
        s.party_call("load_table", [("__predict", source if r == owner else None) for r in range(n)])
        exclude = [c for c in (self.label, self.id_column) if c]
        s.party_call("columns", [("__predict" if r == owner else None, "Xp", None, exclude) for r in range(n)])
        X = s.input_from(owner, "Xp")
        if X.shape[1] != self.n_features:
            raise ConfigurationError(
                f"The prediction rows have {X.shape[1]} feature columns; the model was trained on {self.n_features}.")
        return self._model(model).eval()(X).reveal()

    # ------------------------------------------------------------------ persistence
    def save_shared(self, model: nn.Module, directory: str | Path) -> None:
        """Each party writes its own shares of the weights to ``directory/party_<r>.npz`` (in
        a deployment, each on its own machine); nothing is revealed. A relative ``directory``
        is taken from the driver's working folder (party processes have their own)."""
        directory = Path(directory).resolve()
        directory.mkdir(parents=True, exist_ok=True)
        ids = [p.value._id for p in model.parameters()]
        self.session.party_call("save_shares", [(str(directory / f"party_{r}.npz"), ids)
                                                for r in range(self.n_parties)])
        (directory / "model.json").write_text(json.dumps(
            {"parties": self.n_parties, "parameters": [list(p.shape) for p in model.parameters()],
             "fractional_bits": self.session.fractional_bits}))

    def load_shared(self, template: Any, directory: str | Path) -> nn.Module:
        """The model saved by ``save_shared``, rebuilt on the structure of the torch
        ``template`` (its weights are ignored), for inference or further training."""
        directory = Path(directory).resolve()
        meta = json.loads((directory / "model.json").read_text())
        if meta["parties"] != self.n_parties or meta["fractional_bits"] != self.session.fractional_bits:
            raise ConfigurationError("The saved model belongs to a cluster of another size or precision.")
        model = self._model(template)
        params = list(model.parameters())
        if [list(p.shape) for p in params] != meta["parameters"]:
            raise ConfigurationError("The template's parameters do not match the saved model.")
        for j, p in enumerate(params):
            p.value = self.session.run("load_share", [str(directory / f"party_{r}.npz") for r in range(self.n_parties)], j)
        return model

    def close(self) -> None:
        self.session.close()


def plaintext_fit(template: Any, X: np.ndarray, y: np.ndarray, *, epochs: int, batch_size: int, lr: float,
                  momentum: float = 0.0, shuffle_seed: int | None = 0) -> Any:
    """The plaintext twin of ``PrivateTrainer.fit`` with BCE-with-logits loss: a copy of the
    torch ``template`` trained by torch's SGD on the same public batch order, the reference a
    private run is compared with."""
    import copy

    import torch

    model = copy.deepcopy(template)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    dtype = next(model.parameters()).dtype
    tx = torch.tensor(np.asarray(X), dtype=dtype)
    ty = torch.tensor(np.asarray(y).reshape(len(X), -1), dtype=dtype)
    for epoch in range(epochs):
        order = np.arange(len(X)) if shuffle_seed is None else batch_order(len(X), shuffle_seed, epoch)
        for i in range(0, len(order), batch_size):
            idx = order[i:i + batch_size]
            opt.zero_grad()
            torch.nn.functional.binary_cross_entropy_with_logits(model(tx[idx]), ty[idx]).backward()
            opt.step()
    return model
