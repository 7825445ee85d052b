"""Federation: aggregation speed against a bare numpy sum, secure aggregation's bytes and time
against plain float32 updates, robustness of the strategies to malicious clusters on
diabetes130, and cluster-level DP with a membership-inference check; every baseline measured
in the same run.

    python benchmarks/bench_federation.py                 # everything (about 10 minutes, 2 cores)
    python benchmarks/bench_federation.py --only speed,secagg
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from secured.federation import (ClusterDP, FedAvg, Federation, Krum, Median, PrivacyAccountant,  # noqa: E402
                                SecAggServer, TorchClient, TrimmedMean, Update, membership_inference, secure_sum)


def best(fn, repeat=3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def speed(size=10_000_000, clients=20) -> dict:
    rng = np.random.default_rng(0)
    base = rng.standard_normal(size, dtype=np.float32)
    ups = [Update([base + np.float32(i * 0.01)], 100 + i, f"c{i}") for i in range(clients)]
    current = [np.zeros(size, dtype=np.float32)]

    def bare():
        acc = np.zeros(size)
        for u in ups:
            np.add(acc, u.params[0], out=acc)

    out = {"size": size, "clients": clients, "bare_sum_s": best(bare)}
    for name, strategy in (("fedavg", FedAvg()), ("median", Median()), ("trimmed_mean", TrimmedMean(0.1)),
                           ("krum", Krum(byzantine=3))):
        out[name + "_s"] = best(lambda: strategy.aggregate(1, iter(ups), current), 2 if name != "fedavg" else 3)
    return out


def secagg(size=1_000_000, clients=10) -> dict:
    rng = np.random.default_rng(1)
    xs = [rng.uniform(-1, 1, size) for _ in range(clients)]
    server = SecAggServer(size, clients // 2 + 1, 1.0, 16)
    start = time.perf_counter()
    total = secure_sum(xs, threshold=clients // 2 + 1, bound=1.0, drop_after_sharing=[3], server=server)
    seconds = time.perf_counter() - start
    start = time.perf_counter()
    plain = np.sum([x for i, x in enumerate(xs) if i != 3], axis=0)
    plain_s = time.perf_counter() - start
    plain_bytes = (clients - 1) * size * 4  # the survivors uploading plain float32 updates
    wire = server.bytes_in + server.bytes_out
    return {"size": size, "clients": clients, "dropped": 1, "seconds": seconds, "plain_sum_s": plain_s,
            "max_error": float(np.abs(total - plain).max()), "bytes_on_wire": wire, "plain_bytes": plain_bytes,
            "ratio": wire / plain_bytes, "upload_ratio": server.bytes_in / plain_bytes}


def diabetes_shards(clusters=10, alpha=0.3, seed=0):
    """diabetes130 as one-hot features, readmission < 30 days; shards by a Dirichlet(alpha)
    split of every admission source over the clusters (hospital-like: each cluster sees
    its own mix of admission sources)."""
    from secured.data import load

    d = load("diabetes130")
    cols = ["race", "gender", "age", "admission_type_id", "discharge_disposition_id", "admission_source_id",
            "time_in_hospital", "num_lab_procedures", "num_procedures", "num_medications", "number_outpatient",
            "number_emergency", "number_inpatient", "number_diagnoses", "A1Cresult", "insulin", "change",
            "diabetesMed"]
    y = (d["readmitted"] == "<30").to_numpy(np.float32)
    numeric = ["time_in_hospital", "num_lab_procedures", "num_procedures", "num_medications", "number_outpatient",
               "number_emergency", "number_inpatient", "number_diagnoses"]
    x_num = d[numeric].astype(float)
    x_num = ((x_num - x_num.mean()) / x_num.std()).to_numpy(np.float32)
    x_cat = pd.get_dummies(d[[c for c in cols if c not in numeric]].astype(str)).to_numpy(np.float32)
    x = np.hstack([x_num, x_cat])
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(d))
    test, train = order[:20000], order[20000:]
    shard = np.empty(len(d), dtype=int)
    group = d["admission_source_id"].astype(str).to_numpy()
    for g in np.unique(group[train]):
        rows = train[group[train] == g]
        p = rng.dirichlet([alpha] * clusters)
        shard[rows] = rng.choice(clusters, len(rows), p=p)
    parts = [train[shard[train] == c] for c in range(clusters)]
    return x, y, parts, test


class Malicious:
    """A cluster that sends a poisoned update: its honest delta sign-flipped and scaled x10."""

    def __init__(self, client):
        self.client = client

    def __call__(self, rnd, params, config):
        u = self.client(rnd, params, config)
        factor = -10.0
        return Update([(p0 + factor * (p - p0)).astype(p.dtype) for p, p0 in zip(u.params, params)], u.num_examples,
                      u.client)


def robustness(rounds=15, seed=0) -> dict:
    import torch
    from sklearn.metrics import roc_auc_score

    x, y, parts, test = diabetes_shards(seed=seed)
    torch.manual_seed(seed)
    template = torch.nn.Sequential(torch.nn.Linear(x.shape[1], 1))
    initial = [p.detach().numpy().copy() for p in template.parameters()]

    def clients(malicious: bool):
        out = {}
        for c, rows in enumerate(parts):
            client = TorchClient(f"cluster{c}", template, x[rows], y[rows], epochs=1, batch_size=256, lr=0.2, seed=c)
            if malicious and c < 3:
                client = Malicious(client)
            out[f"cluster{c}"] = client
        return out

    def auroc(params):
        with torch.no_grad():
            w, b = torch.as_tensor(params[0]), torch.as_tensor(params[1])
            s = (torch.as_tensor(x[test]) @ w.T + b).numpy().reshape(-1)
        return float(roc_auc_score(y[test], s))

    out = {"rows": {f"cluster{c}": int(len(p)) for c, p in enumerate(parts)}, "runs": {}}
    for label, strategy, bad in (("FedAvg, clean", FedAvg(), False), ("FedAvg, 3 malicious", FedAvg(), True),
                                 ("median, 3 malicious", Median(), True),
                                 ("trimmed mean 0.3, 3 malicious", TrimmedMean(0.3), True),
                                 ("Multi-Krum (f=3, keep 5), 3 malicious", Krum(byzantine=3, keep=5), True)):
        start = time.perf_counter()
        run = Federation(strategy, clients(bad), initial=initial, rounds=rounds,
                         run_dir=tempfile.mkdtemp(prefix="fed-")).run()
        out["runs"][label] = {"auroc": auroc(run["params"]), "seconds": time.perf_counter() - start}
        print(f"  {label}: AUROC {out['runs'][label]['auroc']:.3f}", file=sys.stderr, flush=True)
    return out


def cluster_dp(rounds=15, epsilon=3.0, seed=0) -> dict:
    """Cluster-level DP-FedAvg at epsilon (delta 1e-5) next to plain FedAvg; membership
    inference (loss threshold) on each final model with training rows of cluster 0 as members."""
    import torch
    from sklearn.metrics import roc_auc_score

    x, y, parts, test = diabetes_shards(seed=seed)
    torch.manual_seed(seed)
    template = torch.nn.Sequential(torch.nn.Linear(x.shape[1], 1))
    initial = [p.detach().numpy().copy() for p in template.parameters()]
    clients = {f"cluster{c}": TorchClient(f"cluster{c}", template, x[rows], y[rows], epochs=1, batch_size=256,
                                          lr=0.2, seed=c) for c, rows in enumerate(parts)}
    # the smallest noise multiplier whose epsilon after all rounds stays within the target
    sigma = 0.5
    while True:
        acc = PrivacyAccountant(Path(tempfile.mkdtemp()) / "probe.json", delta=1e-5, max_epsilon=1e9)
        if acc.charge(rounds=rounds, noise_multiplier=sigma) <= epsilon:
            break
        sigma *= 1.1
    out = {"epsilon_target": epsilon, "noise_multiplier": sigma, "rounds": rounds}

    def score(params):
        with torch.no_grad():
            s = (torch.as_tensor(x) @ torch.as_tensor(params[0]).T + torch.as_tensor(params[1])).numpy().reshape(-1)
        return 1 / (1 + np.exp(-s))

    ledger = Path(tempfile.mkdtemp()) / "ledger.json"
    accountant = PrivacyAccountant(ledger, delta=1e-5, max_epsilon=epsilon)
    for label, strategy in (("FedAvg", FedAvg()),
                            (f"cluster-level DP, epsilon {epsilon:g}",
                             ClusterDP(FedAvg(), clip=0.5, noise_multiplier=sigma, expected_clients=len(parts),
                                       accountant=accountant))):
        run = Federation(strategy, clients, initial=initial, rounds=rounds, run_dir=tempfile.mkdtemp(prefix="fed-"),
                         accountant=accountant if "DP" in label else None).run()
        p = score(run["params"])
        members = parts[0][:2000]
        non = test[:2000]
        proba = lambda idx: np.column_stack([1 - p[idx], p[idx]])  # noqa: E731
        mia = membership_inference(lambda idx: proba(idx.astype(int).reshape(-1)),
                                   (members.reshape(-1, 1), y[members].astype(int)),
                                   (non.reshape(-1, 1), y[non].astype(int)))
        out[label] = {"auroc": float(roc_auc_score(y[test], p[test])), "mia_auc": mia["loss"]["auc"],
                      "mia_tpr_at_0.1%_fpr": mia["loss"]["tpr_at_0.1%_fpr"],
                      "mia_tpr_at_1%_fpr": mia["loss"]["tpr_at_1%_fpr"],
                      "epsilon": accountant.epsilon() if "DP" in label else None,
                      "ledger_entries": len(accountant.entries) if "DP" in label else 0}
        print(f"  {label}: AUROC {out[label]['auroc']:.3f}", file=sys.stderr, flush=True)
    return out


def record_dp(rounds=5, epsilon=3.0, clusters=3, batch=256, seed=0, rows_per_cluster=None, epochs=1) -> dict:
    """Record-level DP-SGD inside SMPC clusters (2 parties each) at epsilon (delta 1e-5) on
    diabetes130 readmission, next to the non-private federated model (the same rounds of local
    SGD in plaintext); membership inference on both (members: training rows of cluster 0)."""
    import torch
    from sklearn.metrics import roc_auc_score


    x, y, _, test = diabetes_shards(seed=seed)
    rng = np.random.default_rng(seed)
    train = np.setdiff1d(np.arange(len(x)), test)
    parts = np.array_split(rng.permutation(train), clusters)
    if rows_per_cluster:                # a small cohort: few rows, many epochs, a model that memorizes
        parts = [p[:rows_per_cluster] for p in parts]
    q = batch / len(parts[0])
    sigma = 0.5
    while True:
        probe = PrivacyAccountant(Path(tempfile.mkdtemp()) / "probe.json", delta=1e-5, max_epsilon=1e9)
        if probe.charge(rounds=rounds * int(round(epochs / q)), noise_multiplier=sigma, sampling_rate=q) <= epsilon:
            break
        sigma *= 1.05
    torch.manual_seed(seed)
    template = torch.nn.Sequential(torch.nn.Linear(x.shape[1], 1).double())
    initial = [p.detach().numpy().copy() for p in template.parameters()]

    def score(params):
        return 1 / (1 + np.exp(-(x @ params[0].reshape(-1) + params[1][0])))

    def mia(p):
        members = np.concatenate(parts)[:2000] if rows_per_cluster else parts[0][:2000]
        non = test[:2000]
        proba = lambda idx: np.column_stack([1 - p[idx.astype(int).reshape(-1)], p[idx.astype(int).reshape(-1)]])  # noqa: E731
        return membership_inference(proba, (members.reshape(-1, 1), y[members].astype(int)),
                                    (non.reshape(-1, 1), y[non].astype(int)))["loss"]

    out = {"rounds": rounds, "clusters": clusters, "parties_per_cluster": 2, "sampling_rate": q, "epochs": epochs,
           "rows": int(sum(len(p) for p in parts)),
           "noise_multiplier": sigma, "clip": 1.0}
    start = time.perf_counter()
    plain = Federation(FedAvg(), {f"c{k}": TorchClient(f"c{k}", template, x[p], y[p], epochs=epochs,
                                                        batch_size=batch, lr=0.5, seed=k) for k, p in enumerate(parts)},
                       initial=initial, rounds=rounds, run_dir=tempfile.mkdtemp(prefix="fed-")).run()
    p0 = score(plain["params"])
    m0 = mia(p0)
    out["non-private federated (plaintext local SGD)"] = {"auroc": float(roc_auc_score(y[test], p0[test])),
                                                           "mia": m0, "seconds": time.perf_counter() - start}
    print(f"  non-private: AUROC {out['non-private federated (plaintext local SGD)']['auroc']:.3f}",
          file=sys.stderr, flush=True)
    accountant = PrivacyAccountant(Path(tempfile.mkdtemp()) / "ledger.json", delta=1e-5, max_epsilon=epsilon)
    start = time.perf_counter()
    params = _smpc_dp_rounds(x, y, parts, template, initial, rounds, accountant, epochs=epochs, lr=0.5,
                             dp={"sampling_rate": q, "clip": 1.0, "noise_multiplier": sigma})
    p1 = score(params)
    out[f"record-level DP-SGD in SMPC, epsilon {epsilon:g}"] = {
        "auroc": float(roc_auc_score(y[test], p1[test])), "mia": mia(p1), "seconds": time.perf_counter() - start,
        "epsilon": accountant.epsilon(), "ledger_entries": len(accountant.entries)}
    return out


def _smpc_dp_rounds(x, y, parts, template, params, rounds, accountant, *, epochs, lr, dp):
    """Rounds of record-level DP-SGD inside SMPC clusters of 2 parties (each cluster's rows split
    between its parties), summed securely; the final parameters."""
    from secured.federation import SMPCCluster, smpc_round
    from secured.mpc import Session
    from secured.mpc.training import PrivateTrainer

    sessions = [Session(2) for _ in parts]
    try:
        tables = [pd.DataFrame(x[p]).assign(label=y[p]) for p in parts]
        smpc = [SMPCCluster(f"c{k}", PrivateTrainer(s, [t.iloc[: len(t) // 2], t.iloc[len(t) // 2:]], label="label"),
                            epochs=epochs, lr=lr, dp=dp) for k, (s, t) in enumerate(zip(sessions, tables))]
        for rnd in range(1, rounds + 1):
            params, record = smpc_round(rnd, smpc, template, params, accountant=accountant)
            print(f"  DP round {rnd}: epsilon {record['epsilon']:.2f}, {record['seconds']:.0f} s", file=sys.stderr,
                  flush=True)
    finally:
        for s_ in sessions:
            s_.close()
    return params


def diabetes_diagnoses(seed=0):
    """diabetes130 with the diagnosis codes (diag_1..3) and the medical specialty one-hot next
    to the features of ``diabetes_shards`` (2,419 columns): rare codes give a linear model room
    to memorize single patients; the same test rows as ``diabetes_shards``."""
    from secured.data import load

    d = load("diabetes130")
    numeric = ["time_in_hospital", "num_lab_procedures", "num_procedures", "num_medications", "number_outpatient",
               "number_emergency", "number_inpatient", "number_diagnoses"]
    cat = ["race", "gender", "age", "admission_type_id", "discharge_disposition_id", "admission_source_id",
           "A1Cresult", "insulin", "change", "diabetesMed", "medical_specialty", "diag_1", "diag_2", "diag_3"]
    y = (d["readmitted"] == "<30").to_numpy(np.float64)
    x_num = d[numeric].astype(float)
    x_num = ((x_num - x_num.mean()) / x_num.std()).to_numpy()
    x = np.hstack([x_num, pd.get_dummies(d[cat].astype(str)).to_numpy(np.float64)])
    order = np.random.default_rng(seed).permutation(len(d))
    return x, y, order[:20000], order[20000:]


def _fedavg_plain(x, y, clusters, rounds, local):
    """FedAvg over equal clusters of (x, y) in plaintext, from zero parameters; ``local`` trains
    one cluster: (x, y, w, b, rng) -> (w, b)."""
    w, b = np.zeros(x.shape[1]), 0.0
    parts = np.array_split(np.arange(len(x)), clusters)
    for rnd in range(rounds):
        outs = [local(x[p], y[p], w, b, np.random.default_rng([rnd, k])) for k, p in enumerate(parts)]
        w, b = np.mean([o[0] for o in outs], axis=0), float(np.mean([o[1] for o in outs]))
    return w, b


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def record_dp_mia(rounds=5, epsilon=3.0, clusters=3, rows_per_cluster=500, seed=0, reference_models=8,
                  non_members=5000) -> dict:
    """The membership-inference side of record-level DP: a small cohort (3 clusters x 500
    rows, diagnosis codes as features) where the non-private federated model (20 local epochs
    of batch-8 SGD per round: trained until it fits its rows) memorizes patients, next to
    DP-SGD inside SMPC clusters at epsilon (delta 1e-5). Each model is attacked by loss, LiRA
    and RMIA with reference models trained the way the target was (the attacker knows the
    training procedure: plaintext FedAvg of the same local SGD, or a plaintext simulation of
    the same DP-SGD) on population rows the target never saw. Members: all training rows;
    non-members: ``non_members`` test rows (so 0.1% FPR is resolvable)."""
    import torch
    from sklearn.metrics import roc_auc_score


    x, y, test, rest = diabetes_diagnoses(seed)
    n = clusters * rows_per_cluster
    train, pool = rest[:n], rest[n:]
    epochs, batch, lr = 20, 8, 1.0                 # non-private local training
    dp_epochs, dp_batch, dp_lr, clip = 2, 32, 0.5, 1.0
    q = dp_batch / rows_per_cluster
    sigma = 0.5
    while True:
        probe = PrivacyAccountant(Path(tempfile.mkdtemp()) / "probe.json", delta=1e-5, max_epsilon=1e9)
        if probe.charge(rounds=rounds * int(round(dp_epochs / q)), noise_multiplier=sigma, sampling_rate=q) <= epsilon:
            break
        sigma *= 1.05

    def sgd(xs, ys, w, b, rng):
        for _ in range(epochs):
            order = rng.permutation(len(xs))
            for i in range(0, len(xs), batch):
                j = order[i:i + batch]
                err = _sigmoid(xs[j] @ w + b) - ys[j]
                w, b = w - lr * xs[j].T @ err / len(j), b - lr * err.mean()
        return w, b

    def dp_sgd(xs, ys, w, b, rng):           # what PrivateTrainer.fit_dp computes, in plaintext
        expected = q * len(xs)
        for _ in range(int(round(dp_epochs / q))):
            j = np.flatnonzero(rng.random(len(xs)) < q)
            err = _sigmoid(xs[j] @ w + b) - ys[j]
            norm = np.abs(err) * np.sqrt((xs[j] ** 2).sum(axis=1) + 1.0)
            e = err * np.minimum(1.0, 0.99 * clip / np.maximum(norm, 1e-12))
            w = w - dp_lr * (xs[j].T @ e + rng.normal(0, sigma * clip, xs.shape[1])) / expected
            b = b - dp_lr * (e.sum() + rng.normal(0, sigma * clip)) / expected
        return w, b

    def predictor(wb):
        w, b = wb
        return lambda xs: _sigmoid(xs @ w + b)

    def attack(target, local):
        def fit(xs, ys, s):
            return predictor(_fedavg_plain(xs, ys.astype(np.float64), clusters, rounds, local))
        non = test[:non_members]
        return membership_inference(target, (x[train], y[train].astype(int)), (x[non], y[non].astype(int)),
                                    train_fn=fit, population=(x[pool], y[pool].astype(int)),
                                    reference_models=reference_models, seed=seed)

    out = {"rounds": rounds, "clusters": clusters, "parties_per_cluster": 2, "rows": n, "features": x.shape[1],
           "non_members": non_members, "reference_models": reference_models, "local": f"{epochs} epochs of batch-{batch} SGD, lr {lr:g}",
           "dp_local": f"{dp_epochs} epochs, expected batch {dp_batch}", "sampling_rate": q, "noise_multiplier": sigma,
           "clip": clip}
    start = time.perf_counter()
    plain = predictor(_fedavg_plain(x[train], y[train], clusters, rounds, sgd))
    fitted = time.perf_counter() - start
    out["non-private federated"] = {"auroc": float(roc_auc_score(y[test], plain(x[test]))), "seconds": fitted,
                                    "mia": attack(plain, sgd)}
    print(f"  non-private: AUROC {out['non-private federated']['auroc']:.3f}", file=sys.stderr, flush=True)

    accountant = PrivacyAccountant(Path(tempfile.mkdtemp()) / "ledger.json", delta=1e-5, max_epsilon=epsilon)
    template = torch.nn.Sequential(torch.nn.Linear(x.shape[1], 1).double())
    start = time.perf_counter()
    params = _smpc_dp_rounds(x, y, np.array_split(train, clusters), template,
                             [np.zeros((1, x.shape[1])), np.zeros(1)], rounds, accountant, epochs=dp_epochs, lr=dp_lr,
                             dp={"sampling_rate": q, "clip": clip, "noise_multiplier": sigma})
    seconds = time.perf_counter() - start
    private = predictor((params[0].reshape(-1), float(params[1][0])))
    out[f"record-level DP-SGD in SMPC, epsilon {epsilon:g}"] = {
        "auroc": float(roc_auc_score(y[test], private(x[test]))), "seconds": seconds, "mia": attack(private, dp_sgd),
        "epsilon": accountant.epsilon(), "ledger_entries": len(accountant.entries)}
    return out


def mia_speed(records=10_000, reference_models=4, seed=0) -> dict:
    """Membership inference on a model trained on 10,000 diabetes130 records: loss threshold
    and offline LiRA with reference models trained in the same run (their training counted)."""
    from sklearn.neural_network import MLPClassifier

    x, y, _, test = diabetes_shards(seed=seed)
    rng_order = np.argsort(np.sin(np.arange(len(x)) * 12.9898) * 43758.5453 % 1)   # a fixed shuffle
    train = np.setdiff1d(rng_order, test)[:records]
    pool = np.setdiff1d(np.setdiff1d(np.arange(len(x)), test), train)

    def fit(xs, ys, s):
        return MLPClassifier(hidden_layer_sizes=(64,), max_iter=60, random_state=s).fit(xs, ys).predict_proba

    start = time.perf_counter()
    target = fit(x[train], y[train].astype(int), seed)
    trained = time.perf_counter() - start
    start = time.perf_counter()
    res = membership_inference(target, (x[train], y[train].astype(int)), (x[test[:records]], y[test[:records]].astype(int)),
                               train_fn=fit, population=(x[pool], y[pool].astype(int)),
                               reference_models=reference_models)
    return {"records": records, "target_fit_s": trained, "attack_s": time.perf_counter() - start,
            "loss": res["loss"], "lira": res["lira"], "rmia": res["rmia"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", default="speed,secagg,robustness,dp,record,small,mia")
    ap.add_argument("--json")
    args = ap.parse_args()
    parts = args.only.split(",")
    out = {}
    if "speed" in parts:
        s = out["speed"] = speed()
        print(f"\naggregation of {s['clients']} updates x {s['size']:,} float32 values (best of runs):")
        print("| strategy | seconds | vs bare numpy sum |\n|---|---:|---:|")
        print(f"| bare numpy float64 sum (baseline) | {s['bare_sum_s']:.2f} | 1.0x |")
        for k in ("fedavg", "median", "trimmed_mean", "krum"):
            print(f"| {k} | {s[k + '_s']:.2f} | {s[k + '_s'] / s['bare_sum_s']:.1f}x |")
    if "secagg" in parts:
        s = out["secagg"] = secagg()
        print(f"\nsecure aggregation, {s['clients']} clients x {s['size']:,} values, 1 dropped after sharing keys: "
              f"{s['seconds']:.2f} s (plain sum {s['plain_sum_s']:.3f} s), max error {s['max_error']:.2e}; bytes on "
              f"the wire {s['bytes_on_wire']:,} = {s['ratio']:.4f}x plain float32 updates (uploads "
              f"{s['upload_ratio']:.4f}x); Bonawitz et al. report 1.73x at their setting")
    if "robustness" in parts:
        r = out["robustness"] = robustness()
        print("\ndiabetes130 over 10 clusters (Dirichlet 0.3 over admission source), 15 rounds, logistic model; malicious clusters send -10 x their honest delta:")
        print("| run | test AUROC | seconds |\n|---|---:|---:|")
        for k, v in r["runs"].items():
            print(f"| {k} | {v['auroc']:.3f} | {v['seconds']:.0f} |")
    if "dp" in parts:
        d = out["dp"] = cluster_dp()
        print(f"\ncluster-level DP (noise multiplier {d['noise_multiplier']:.2f}, {d['rounds']} rounds):")
        print("| model | test AUROC | MIA AUC | MIA TPR at 0.1% FPR | at 1% FPR | epsilon |\n|---|---:|---:|---:|---:|---:|")
        for k, v in d.items():
            if isinstance(v, dict):
                eps = "-" if v["epsilon"] is None else f"{v['epsilon']:.2f}"
                print(f"| {k} | {v['auroc']:.3f} | {v['mia_auc']:.3f} | {v['mia_tpr_at_0.1%_fpr']:.4f} | "
                      f"{v['mia_tpr_at_1%_fpr']:.4f} | {eps} |")
    if "record" in parts:
        d = out["record"] = record_dp()
        print(f"\nrecord-level DP-SGD inside {d['clusters']} SMPC clusters of 2 parties ({d['rows']:,} training rows, "
              f"{d['rounds']} rounds of {d['epochs']} local epochs, sampling rate {d['sampling_rate']:.4f}, noise "
              f"multiplier {d['noise_multiplier']:.2f}, clip 1):")
        print("| model | test AUROC | MIA AUC | MIA TPR at 0.1% FPR | at 1% FPR | epsilon | seconds |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for k, v in d.items():
            if isinstance(v, dict):
                eps = f"{v['epsilon']:.2f} ({v['ledger_entries']} ledger entries)" if "epsilon" in v else "-"
                m = v["mia"]
                print(f"| {k} | {v['auroc']:.3f} | {m['auc']:.3f} | {m['tpr_at_0.1%_fpr']:.4f} | "
                      f"{m['tpr_at_1%_fpr']:.4f} | {eps} | {v['seconds']:.0f} |")
    if "small" in parts:
        d = out["small"] = record_dp_mia()
        print(f"\nmembership inference, small cohort ({d['clusters']} clusters x {d['rows'] // d['clusters']} rows, "
              f"{d['features']:,} features with diagnosis codes, {d['rounds']} rounds; non-private local training "
              f"{d['local']}; DP-SGD {d['dp_local']}, noise multiplier {d['noise_multiplier']:.2f}, clip "
              f"{d['clip']:g}; {d['rows']:,} members, {d['non_members']:,} non-members, {d['reference_models']} "
              f"reference models trained like the target):")
        print("| model | test AUROC | epsilon | attack | AUC | TPR at 0.1% FPR [95% CI] | TPR at 1% FPR |")
        print("|---|---:|---:|---|---:|---:|---:|")
        for k, v in d.items():
            if isinstance(v, dict):
                eps = f"{v['epsilon']:.2f}" if "epsilon" in v else "-"
                for a in ("loss", "lira", "rmia"):
                    m = v["mia"][a]
                    lo, hi = m["tpr_at_0.1%_fpr_ci"]
                    print(f"| {k} | {v['auroc']:.3f} | {eps} | {a} | {m['auc']:.3f} | {m['tpr_at_0.1%_fpr']:.4f} "
                          f"[{lo:.4f}, {hi:.4f}] | {m['tpr_at_1%_fpr']:.4f} |")
    if "mia" in parts:
        m = out["mia"] = mia_speed()
        print(f"\nmembership inference on an MLP trained on {m['records']:,} records (target fit {m['target_fit_s']:.0f} s): "
              f"the three attacks incl. training {m['lira']['reference_models']} reference models {m['attack_s']:.0f} s; "
              f"loss AUC {m['loss']['auc']:.3f}, TPR at 0.1% FPR {m['loss']['tpr_at_0.1%_fpr']:.4f}; LiRA AUC "
              f"{m['lira']['auc']:.3f}, TPR at 0.1% FPR {m['lira']['tpr_at_0.1%_fpr']:.4f}; RMIA AUC "
              f"{m['rmia']['auc']:.3f}, TPR at 0.1% FPR {m['rmia']['tpr_at_0.1%_fpr']:.4f}")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1, default=str))


if __name__ == "__main__":
    main()
