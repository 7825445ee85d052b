"""Rounds and training on Ray: the session's direct links against Ray calls, same run.

    python benchmarks/bench_ray_links.py [--rows 15000] [--ray-call-steps 20]

1. A round (every party sends its peers 8 bytes and waits for theirs), 2 and 3 party actors:
   direct links (``RaySession()``) against Ray calls (``RaySession(direct_links=False)``).
2. The 3-party diabetes130 training job of issue 19 (15,000 x 8 numeric columns standardized,
   readmitted < 30 days as the label, logistic regression, batch 64, one epoch, 3 x 5,000
   rows; ``python -m secured.jobs.train`` runs the same): seconds per epoch over the links,
   next to the same epoch's steps over Ray calls (``--ray-call-steps`` of them, scaled to an
   epoch: a whole epoch takes ~40 s) and in-process threads (``transport="threads"``).

Reads the diabetes130 copy shipped in ``secured/data``; writes the party tables to a
temporary folder.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

COLUMNS = ["time_in_hospital", "num_lab_procedures", "num_procedures", "num_medications", "number_outpatient",
           "number_emergency", "number_inpatient", "number_diagnoses"]


def party_tables(folder: Path, rows: int, parties: int = 3) -> list[str]:
    import pandas as pd

    from secured.data import path as data_path

    table = pd.read_parquet(data_path("diabetes130.parquet"), columns=[*COLUMNS, "readmitted"]).iloc[:rows]
    x = table[COLUMNS].astype(float)
    x = (x - x.mean()) / x.std()
    x["label"] = (table["readmitted"] == "<30").astype(float)
    paths = []
    for i, part in enumerate(np.array_split(np.arange(len(x)), parties)):
        paths.append(str(folder / f"party{i}.csv"))
        x.iloc[part].to_csv(paths[-1], index=False)
    return paths


def round_seconds(parties: int, direct: bool, rounds: int = 300) -> float:
    from secured.cluster import RaySession

    with RaySession(parties, direct_links=direct) as s:
        s.party_call("rounds", [(20,)] * parties)                  # warm up
        return min(min(s.party_call("rounds", [(rounds,)] * parties)) / rounds for _ in range(3))


def epoch_seconds(paths: list[str], transport: str, direct: bool = True, steps: int | None = None) -> tuple[float, int]:
    """Seconds per epoch (``steps`` batches scaled to the epoch when given) and batches per epoch."""
    import torch

    from secured.cluster import RaySession
    from secured.cluster.jobs.train import RAY_LINK
    from secured.mpc import Network, Session, nn
    from secured.mpc.training import PrivateTrainer, batch_order

    if transport == "ray":                 # what the job's Cluster builds, with the links on or off
        session = RaySession(len(paths), direct_links=direct, link=Network(**RAY_LINK))
    else:
        session = Session(len(paths))
    with session:
        cluster = PrivateTrainer(session, paths, label="label")
        torch.manual_seed(0)
        template = torch.nn.Sequential(torch.nn.Linear(len(COLUMNS), 1)).double()
        if steps is None:
            history = cluster.fit(template, epochs=1, batch_size=64, lr=0.1)
            return history["epochs"][0]["seconds"], -(-cluster.n_rows // 64)
        model = nn.from_torch(template, cluster.session).train()
        opt, loss = nn.SGD(model.parameters(), lr=0.1), nn.BCEWithLogitsLoss()
        order = batch_order(cluster.n_rows, 0, 0)
        start = time.perf_counter()
        for i in range(steps):
            idx = order[i * 64:(i + 1) * 64]
            g, scale = loss.grad_parts(model(cluster.X[idx]), cluster.y[idx])
            model.backward(g, input_grad=False)
            opt.step(grad_scale=scale)
            opt.zero_grad()
        cluster.session.sync()
        batches = -(-cluster.n_rows // 64)
        return (time.perf_counter() - start) / steps * batches, batches


def main(rows: int = 15_000, ray_call_steps: int = 20) -> None:
    from secured.cluster import ensure_ray

    ensure_ray()
    print("round (party_call('rounds')), best of 3:")
    print(f"{'parties':>8} {'Ray calls':>11} {'links':>9} {'ratio':>7}")
    for n in (2, 3):
        slow, fast = round_seconds(n, False), round_seconds(n, True)
        print(f"{n:>8} {slow * 1e3:>9.3f}ms {fast * 1e3:>7.3f}ms {slow / fast:>6.1f}x")
    with tempfile.TemporaryDirectory() as folder:
        paths = party_tables(Path(folder), rows)
        links, batches = epoch_seconds(paths, "ray")
        calls, _ = epoch_seconds(paths, "ray", direct=False, steps=ray_call_steps)
        threads, _ = epoch_seconds(paths, "threads")
    print(f"\n3-party diabetes130 logistic regression, {rows:,} rows, batch 64 ({batches} steps), one epoch:")
    print(f"  Ray, direct links      {links:7.2f} s")
    print(f"  Ray calls              {calls:7.2f} s  ({ray_call_steps} steps scaled; {calls / links:.1f}x the links)")
    print(f"  threads, one process   {threads:7.2f} s  ({threads / links:.1f}x the links)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=15_000)
    parser.add_argument("--ray-call-steps", type=int, default=20)
    args = parser.parse_args()
    main(args.rows, args.ray_call_steps)
