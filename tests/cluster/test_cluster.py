"""Clusters of parties that each hold private rows or columns: joint training, private
inference, persistence, bad input; accuracy against plaintext torch with the same setting."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import torch

from secured.cluster import Cluster
from secured.progress import ProgressLog
from secured.cluster.cluster import batch_order
from secured.mpc.training import plaintext_fit
from secured.exceptions import ConfigurationError

torch.set_default_dtype(torch.float64)
COLS = [f"f{i}" for i in range(30)]


@pytest.fixture(scope="module")
def breast_cancer():
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    X, y = load_breast_cancer(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    scaler = StandardScaler().fit(Xtr)
    train = pd.DataFrame(scaler.transform(Xtr), columns=COLS)
    train["label"] = ytr.astype(float)
    train["pid"] = np.arange(len(train))
    return train, scaler.transform(Xte), yte


def _template(arch: str):
    torch.manual_seed(0)
    if arch == "logistic":
        return torch.nn.Sequential(torch.nn.Linear(30, 1))
    return torch.nn.Sequential(torch.nn.Linear(30, 16), torch.nn.ReLU(), torch.nn.Linear(16, 8),
                               torch.nn.ReLU(), torch.nn.Linear(8, 1))


def _plaintext_accuracy(template, train, Xte, yte, epochs, bs, lr, momentum):
    model = copy.deepcopy(template)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    X, y = torch.tensor(train[COLS].to_numpy()), torch.tensor(train[["label"]].to_numpy())
    for epoch in range(epochs):
        order = batch_order(len(train), 0, epoch)  # the public order Cluster.fit uses
        for i in range(0, len(order), bs):
            idx = order[i:i + bs]
            opt.zero_grad()
            torch.nn.functional.binary_cross_entropy_with_logits(model(X[idx]), y[idx]).backward()
            opt.step()
    return ((model(torch.tensor(Xte)).detach().numpy()[:, 0] > 0) == yte).mean()


@pytest.mark.parametrize("partition", ["horizontal", "vertical"])
@pytest.mark.parametrize("arch", ["logistic", "mlp"])
def test_training_matches_plaintext(breast_cancer, partition, arch):
    """Acceptance 1-2: 3 parties, rows (horizontal) or columns (vertical) split between them;
    test accuracy within 1 point of plaintext torch with the same init and hyperparameters."""
    train, Xte, yte = breast_cancer
    template = _template(arch)
    setting = dict(epochs=3, bs=32, lr=0.1, momentum=0.9)
    acc_plain = _plaintext_accuracy(template, train, Xte, yte, **setting)
    if partition == "horizontal":
        rows = np.array_split(np.arange(len(train)), 3)
        sources = [lambda r=r: train.iloc[r].drop(columns=["pid"]) for r in rows]
        cluster = Cluster(sources, label="label", transport="threads")
    else:
        blocks = [COLS[:12], COLS[12:20], COLS[20:]]
        # each party holds its columns for the same patients, in its own row order
        sources = [lambda b=b, i=i: train[["pid", *b] + (["label"] if i == 2 else [])].sample(frac=1, random_state=i)
                   for i, b in enumerate(blocks)]
        cluster = Cluster(sources, label="label", partition="vertical", id_column="pid", transport="threads")
    with cluster:
        assert cluster.n_rows == len(train) and cluster.n_features == 30
        history = cluster.fit(template, epochs=setting["epochs"], batch_size=setting["bs"], lr=setting["lr"],
                              momentum=setting["momentum"], progress=False)
        model = history["model"]
        if partition == "vertical":  # columns were concatenated party by party: same order as COLS
            logits = model(cluster.session.share(Xte)).reveal()
        else:
            logits = cluster.predict(model, 1, lambda: pd.DataFrame(Xte, columns=COLS))
    acc = ((logits[:, 0] > 0) == yte).mean()
    assert abs(acc - acc_plain) <= 0.01, (acc, acc_plain)
    assert len(history["epochs"]) == 3


def test_save_update_and_reload(tmp_path, breast_cancer):
    train, Xte, _ = breast_cancer
    template = _template("logistic")
    rows = np.array_split(np.arange(len(train)), 2)
    sources = [lambda r=r: train.iloc[r].drop(columns=["pid"]) for r in rows]
    events = ProgressLog()
    with Cluster(sources, label="label", transport="threads") as cluster:
        model = cluster.fit(template, epochs=1, batch_size=64, lr=0.1, progress=events)["model"]
        cluster.save_shared(model, tmp_path / "m")
        assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["model.json", "party_0.npz", "party_1.npz"]
        reloaded = cluster.load_shared(template, tmp_path / "m")
        X = cluster.session.share(Xte)
        np.testing.assert_allclose(reloaded(X).reveal(), model(X).reveal(), atol=1e-4)
        # updating: continue training the saved model on (new) data
        before = reloaded.parameters().__next__().value.reveal()
        updated = cluster.fit(reloaded, epochs=1, batch_size=64, lr=0.1, progress=False)["model"]
        assert np.abs(updated.parameters().__next__().value.reveal() - before).max() > 0
        with pytest.raises(ConfigurationError, match="do not match"):
            cluster.load_shared(_template("mlp"), tmp_path / "m")
    counted = [e for e in events.events if e.total is not None]
    assert counted[-1].done == counted[-1].total == -(-len(train) // 64)
    assert [e.stage for e in events.events if e.total is None] == ["epoch 1 of 1: " + e.stage.split(": ")[1]
                                                                   for e in events.events if e.total is None]


def test_bad_cluster_input(breast_cancer):
    train = breast_cancer[0]
    good = lambda: train.drop(columns=["pid"])  # noqa: E731
    with pytest.raises(ConfigurationError, match="at least 2"):
        Cluster([good], label="label", transport="threads")
    with pytest.raises(ConfigurationError, match="label column 'lbl'"):
        Cluster([good, good], label="lbl", transport="threads")
    with pytest.raises(ConfigurationError, match="id_column"):
        Cluster([good, good], label="label", partition="vertical", transport="threads")
    with pytest.raises(ConfigurationError, match="same feature columns"):
        Cluster([good, lambda: train.drop(columns=["pid", "f3"])], label="label", transport="threads")
    with pytest.raises(ConfigurationError, match="numeric"):
        Cluster([good, lambda: train.drop(columns=["pid"]).assign(f0="x")], label="label", transport="threads")
    with pytest.raises(ConfigurationError, match="exactly one party holds the label"):
        Cluster([lambda: train[["pid", "f0"]], lambda: train[["pid", "f1"]]], label="label",
                partition="vertical", id_column="pid", transport="threads")
    with pytest.raises(ConfigurationError, match="transport"):
        Cluster([good, good], label="label", transport="mpi")


@pytest.mark.parametrize("partition", ["horizontal", "vertical"])
def test_diabetes_readmission_auroc_matches_plaintext(partition):
    """Acceptance 1-2 (diabetes130): 30-day readmission, logistic regression, 3 parties holding
    different patients (horizontal) or different columns of the same encounters (vertical);
    AUROC within 1 point of plaintext torch (same init and setting)."""
    from sklearn.metrics import roc_auc_score

    from secured.data import diabetes_readmission

    X, y, pid, _ = diabetes_readmission(rows=20_000, seed=1)
    train_ids = np.unique(pid)[: int(0.8 * len(np.unique(pid)))]
    is_train = np.isin(pid, train_ids)  # split by patient, not by encounter
    mu, sd = X[is_train].mean(0), X[is_train].std(0) + 1e-9
    Xs = (X - mu) / sd
    cols = [f"c{i}" for i in range(X.shape[1])]
    train = pd.DataFrame(Xs[is_train], columns=cols)
    train["label"] = y[is_train]
    torch.manual_seed(0)
    template = torch.nn.Sequential(torch.nn.Linear(X.shape[1], 1))
    plain = plaintext_fit(template, train[cols].to_numpy(), train["label"].to_numpy(), epochs=2, batch_size=256,
                          lr=0.05, momentum=0.9)   # torch on the same public batch order
    auc_plain = roc_auc_score(y[~is_train], plain(torch.tensor(Xs[~is_train])).detach().numpy()[:, 0])
    if partition == "horizontal":
        rows = np.array_split(np.arange(len(train)), 3)
        cluster = Cluster([lambda r=r: train.iloc[r] for r in rows], label="label", transport="threads")
    else:
        keyed = train.assign(encounter=np.arange(len(train)))
        blocks = np.array_split(np.array(cols), 3)
        cluster = Cluster([lambda b=b, i=i: keyed[["encounter", *b] + (["label"] if i == 0 else [])]
                           for i, b in enumerate(blocks)],
                          label="label", partition="vertical", id_column="encounter", transport="threads")
    with cluster:
        model = cluster.fit(template, epochs=2, batch_size=256, lr=0.05, momentum=0.9, progress=False)["model"]
        scores = model(cluster.session.share(Xs[~is_train])).reveal()
    auc = roc_auc_score(y[~is_train], scores[:, 0])
    assert abs(auc - auc_plain) <= 0.01, (auc, auc_plain)
    assert auc > 0.6
