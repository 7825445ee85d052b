"""End-to-end check of what the system can do today, run by ``secured demo`` / ``make demo``.

Step 1 (ring core): two parties hold additive shares of a private fixed-point matrix X; a
public weight matrix W is applied by each party to its own share with the exact Z_2^64
matmul; the revealed sum, decoded, must equal the plaintext X @ W within the fixed-point
error.
Step 2 (private training on bundled real data): three hospitals each hold a third of
6,000 diabetes130 encounters (different patients); they train a 30-day-readmission logistic
regression jointly under SMPC and score held-out patients; the AUROC must match the same
model trained in plaintext within 1 point.
Step 3 (data flow on bundled diabetes130): the protect loop anonymizes the encounters
(patients counted once), attacks each release (singling-out, linkability, inference of
readmission) and keeps the most useful release whose risks' upper bounds are all below 0.05;
k is recomputed on the release, and a DP age x readmitted histogram is released at rho = 0.5.
Each step prints what it checked; the demo exits non-zero if any check fails.
"""

from __future__ import annotations

import time

import numpy as np
from rich.console import Console

from .backend import get_backend, new_key

__all__ = ["run_demo"]


def _share(be, x_ring, key: bytes):
    """Two additive shares of x: party 0 expands its share from a seed, party 1 gets the rest."""
    s0 = be.prg(key, 0, x_ring.shape)
    return s0, be.sub(x_ring, s0)


def run_demo(console: Console | None = None, rows: int = 4096, features: int = 64,
             outputs: int = 16) -> bool:
    console = console or Console()
    be = get_backend()
    f = 16
    console.rule("[bold]SECURED demo: ring core")
    console.print(f"backend: [bold]{be.name}[/]; fixed point with {f} fractional bits")

    # Public demo inputs (not secret): standardized features and a weight matrix.
    rng = np.random.default_rng(7)
    x = rng.normal(size=(rows, features))
    w = rng.normal(scale=0.25, size=(features, outputs))

    start = time.perf_counter()
    x_ring, w_ring = be.encode(x, f), be.encode(w, f)
    s0, s1 = _share(be, x_ring, new_key())
    # A share on its own is uniform: its mean bit is 1/2 whatever X is.
    bit_mean = float(np.unpackbits(be.to_numpy(s1).view(np.uint8)).mean())
    y0, y1 = be.matmul(s0, w_ring), be.matmul(s1, w_ring)  # each party, locally
    revealed = be.decode(be.add(y0, y1), 2 * f)  # product of two f-bit values has 2f bits
    elapsed = time.perf_counter() - start

    expected = x @ w
    err = float(np.max(np.abs(be.to_numpy(revealed) - expected)))
    # Each input carries at most 2^-(f+1) rounding error; the bound sums them over the product.
    bound = features * (np.abs(x).max() + np.abs(w).max() + 1) * 2.0 ** -(f + 1)
    ok_shares = abs(bit_mean - 0.5) < 0.01
    ok_value = err <= bound
    console.print(f"shared a {rows}x{features} matrix between 2 parties; share bit mean "
                  f"{bit_mean:.4f} (uniform: 0.5) -> {'ok' if ok_shares else 'FAILED'}")
    console.print(f"each party multiplied its share by a public {features}x{outputs} matrix; "
                  f"revealed X@W max |error| {err:.2e} (bound {bound:.2e}) -> "
                  f"{'ok' if ok_value else 'FAILED'}  [{elapsed * 1000:.0f} ms]")
    ok = ok_shares and ok_value and _training_step(console) and _data_flow_step(console)
    console.print("[bold green]demo passed[/]" if ok else "[bold red]demo FAILED[/]")
    return ok


def _training_step(console: Console) -> bool:

    import pandas as pd
    import torch
    from sklearn.metrics import roc_auc_score

    from .cluster import Cluster
    from .mpc.training import plaintext_fit
    from .data import diabetes_readmission

    console.rule("[bold]SECURED demo: private training across 3 hospitals")
    X, y, pid, _ = diabetes_readmission(rows=6000, seed=3)
    patients = np.unique(pid)
    train = np.isin(pid, patients[: int(0.8 * len(patients))])  # split by patient
    mu, sd = X[train].mean(0), X[train].std(0) + 1e-9
    Xs = (X - mu) / sd
    cols = [f"c{i}" for i in range(X.shape[1])]
    table = pd.DataFrame(Xs[train], columns=cols).assign(readmitted=y[train])
    torch.manual_seed(0)
    template = torch.nn.Sequential(torch.nn.Linear(X.shape[1], 1)).double()
    plain = plaintext_fit(template, table[cols].to_numpy(), table["readmitted"].to_numpy(), epochs=2,
                          batch_size=128, lr=0.05, momentum=0.9)   # the same public batch order
    auc_plain = roc_auc_score(y[~train], plain(torch.tensor(Xs[~train])).detach().numpy()[:, 0])
    parts = np.array_split(np.arange(len(table)), 3)
    start = time.perf_counter()
    with Cluster([lambda p=p: table.iloc[p] for p in parts], label="readmitted", transport="threads") as cluster:
        run = cluster.fit(template, epochs=2, batch_size=128, lr=0.05, momentum=0.9, progress=False)
        scores = cluster.predict(run["model"], 0, lambda: pd.DataFrame(Xs[~train], columns=cols))
        sent = sum(p["bytes_sent"] for p in cluster.session.stats()["parties"])
    auc = roc_auc_score(y[~train], scores[:, 0])
    ok = abs(auc - auc_plain) <= 0.01
    console.print(f"{len(table)} encounters in 3 hospitals, {X.shape[1]} features; trained privately in "
                  f"{time.perf_counter() - start:.1f} s ({sent / 1e6:.0f} MB exchanged); held-out AUROC "
                  f"{auc:.3f} vs plaintext {auc_plain:.3f} -> {'ok' if ok else 'FAILED'}")
    return ok


def _data_flow_step(console: Console) -> bool:
    from .data import load
    from .privacy import Hierarchy
    import tempfile
    from pathlib import Path

    from .privacy.dp import BudgetLedger, dp_histogram
    from .privacy.anonymizer import Anonymizer
    from .privacy.protect import Protector
    from .privacy.screening import screen_columns

    console.rule("[bold]SECURED demo: anonymize, attack, repeat (diabetes130)")
    d = load("diabetes130").head(30_000)
    qis = ["age", "gender", "race", "diag_1"]
    hierarchies = {"age": Hierarchy.from_spec("age", "ordered:2,5", d["age"]),
                   "gender": Hierarchy.from_spec("gender", "flat", d["gender"]),
                   "race": Hierarchy.from_spec("race", "flat", d["race"]),
                   "diag_1": Hierarchy.icd9("diag_1", d["diag_1"])}
    start = time.perf_counter()
    declared = ["patient_nbr", "encounter_id", "readmitted"]
    flagged = screen_columns(d, qis, declared)["flagged"]
    console.print(f"columns identifying people with the quasi-identifiers, kept on purpose (not known to an "
                  f"attacker): {', '.join(flagged)}")
    template = Anonymizer(k=2, quasi_identifiers=qis, hierarchies=hierarchies, id_column="patient_nbr",
                          pseudonymize=["patient_nbr"], drop=["encounter_id"], keep=flagged)
    protector = Protector(template, sensitive=["readmitted"], max_risk=0.05, n_attacks=1000).fit(d)
    for it in protector.history_:
        if "risks" in it:
            s = it["settings"]
            console.print(f"#{it['iteration']} {s['method']} k={s['k']} suppression {s['max_suppression']:g}: highest "
                          f"risk upper bound {it['max_risk_upper']:.3f} ({it['riskiest']}), k {it['k_achieved']}, "
                          f"loss {it['utility']['loss']:.3f} -> {'pass' if it['passed'] else 'fail'}")
    release = protector.release_
    if release is None:
        console.print("no release passed -> FAILED")
        return False
    people = release.groupby(qis)["patient_nbr"].nunique().min()
    ok_k = people >= protector.report_["chosen"]["k"]
    console.print(f"released {len(release)} encounters; smallest class holds {people} patients (k = "
                  f"{protector.report_['chosen']['k']}) -> {'ok' if ok_k else 'FAILED'}  "
                  f"[{time.perf_counter() - start:.1f} s]")
    with tempfile.TemporaryDirectory() as tmp:
        ledger = BudgetLedger(Path(tmp) / "ledger.json", rho=1.0)
        domains = {"age": [f"[{10 * i}-{10 * (i + 1)})" for i in range(10)], "readmitted": ["NO", ">30", "<30"]}
        hist = dp_histogram(d, ["age", "readmitted"], rho=0.5, id_column="patient_nbr", domains=domains,
                            ledger=ledger)
        accounted = ledger.spent
    truth = d.drop_duplicates("patient_nbr").shape[0]
    noisy = int(hist.table["count"].sum() + (hist.other or 0))
    ok_dp = abs(noisy - truth) < 8 * hist.scale * len(hist.table) ** 0.5
    ok_dp = ok_dp and abs(accounted - hist.rho) < 1e-9
    console.print(f"DP age x readmitted histogram at rho = {hist.rho:g} (ledger: {accounted:g} of 1 spent): "
                  f"{len(hist.table)} cells, noise sd {hist.scale:.2f}, total {noisy} vs {truth} patients -> "
                  f"{'ok' if ok_dp else 'FAILED'}")
    return bool(ok_k and ok_dp)
