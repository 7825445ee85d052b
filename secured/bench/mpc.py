"""SMPC benchmark: a private matmul and ReLU, 2 parties + dealer, side by side in one run.

Ours in-process (parties as threads) and on Ray (parties as actors), plaintext numpy, and,
when a Python with CrypTen is available (``make peers`` creates ``.venv-peers``; or set
SECURED_CRYPTEN_PYTHON), CrypTen 0.4 with its 2-process launcher. Seconds, bytes and rounds
per party, and the ratios. ``benchmarks/bench_mpc.py`` and ``secured bench mpc`` run this.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ._timing import best_time

__all__ = ["MpcRow", "run", "crypten_python", "main"]


@dataclass
class MpcRow:
    """One row of the MPC benchmark table."""
    op: str
    system: str
    seconds: float
    bytes_per_party: int | None
    rounds: int | None
    ratio_to_plaintext: float | None = None
    vs_ours: float | None = None  # this system's seconds / ours in-process


def crypten_python() -> str | None:
    """The interpreter of the peers' environment that can import crypten, if any."""
    candidates = [os.environ.get("SECURED_CRYPTEN_PYTHON")]
    for root in (Path.cwd(), Path(__file__).resolve().parents[2]):
        candidates.append(str(root / ".venv-peers" / "bin" / "python"))
    for path in candidates:
        if path and Path(path).is_file():
            return path
    return None


def _ours(session, n: int, relu_log2: int, repeat: int) -> list[MpcRow]:
    rng = np.random.default_rng(0)  # benchmark inputs, not secrets
    a, b = session.share(rng.normal(size=(n, n))), session.share(rng.normal(size=(n, n)))
    x = session.share(rng.normal(size=1 << relu_log2))
    rows = []
    # ops are pipelined: each timed call waits until the parties are done
    for op, fn in ((f"matmul {n}x{n}", lambda: (a @ b, session.sync())),
                   (f"relu 2^{relu_log2}", lambda: (x.relu(), session.sync()))):
        seconds = best_time(fn, repeat=repeat)
        session.reset_stats()
        fn()
        party = session.stats()["parties"][0]
        rows.append(MpcRow(op, "", seconds, party["bytes_sent"], party["rounds"]))
    return rows


def run(n: int = 1024, relu_log2: int = 20, repeat: int = 3, ray: bool = True,
        crypten: bool = True) -> list[MpcRow]:
    from ..mpc import Session

    rng = np.random.default_rng(0)
    pa, pb, px = rng.normal(size=(n, n)), rng.normal(size=(n, n)), rng.normal(size=1 << relu_log2)
    plain = {f"matmul {n}x{n}": best_time(lambda: pa @ pb, repeat=repeat),
             f"relu 2^{relu_log2}": best_time(lambda: np.maximum(px, 0.0), repeat=repeat)}
    rows = [MpcRow(op, "plaintext numpy", t, None, None) for op, t in plain.items()]
    with Session(n_parties=2) as s:
        for row in _ours(s, n, relu_log2, repeat):
            row.system = "secured in-process"
            rows.append(row)
    if ray:
        from ..cluster import RaySession

        with RaySession(n_parties=2) as s:
            for row in _ours(s, n, relu_log2, repeat):
                row.system = "secured on Ray"
                rows.append(row)
    python = crypten_python() if crypten else None
    if python:
        worker = Path(__file__).with_name("_crypten_worker.py")
        out = subprocess.run([python, str(worker), "ops", str(n), str(relu_log2)], capture_output=True,
                             text=True, timeout=3600)
        lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
        if out.returncode == 0 and lines:
            got = json.loads(lines[-1])
            rows.append(MpcRow(f"matmul {n}x{n}", "CrypTen " + got["crypten"], got["matmul_s"],
                               got["matmul_bytes"], got["matmul_rounds"]))
            rows.append(MpcRow(f"relu 2^{relu_log2}", "CrypTen " + got["crypten"], got["relu_s"],
                               got["relu_bytes"], got["relu_rounds"]))
        else:
            print(f"CrypTen run failed (exit {out.returncode}): {out.stderr.strip()[-400:]}", file=sys.stderr)
    ours = {r.op: r.seconds for r in rows if r.system == "secured in-process"}
    for r in rows:
        if r.system != "plaintext numpy":
            r.ratio_to_plaintext = r.seconds / plain[r.op]
            r.vs_ours = r.seconds / ours[r.op]
    return rows


def main(n: int = 1024, relu_log2: int = 20, repeat: int = 3, ray: bool = True,
         crypten: bool = True, as_json: bool = False) -> int:
    from rich.console import Console
    from rich.table import Table

    rows = run(n, relu_log2, repeat, ray, crypten)
    if as_json:
        print(json.dumps([asdict(r) for r in rows], indent=2))
        return 0
    table = Table(title=f"Private ops, 2 parties + dealer (best of {repeat}; bytes and rounds per party)")
    for col in ("op", "system", "seconds", "/ plaintext", "bytes/party", "rounds", "/ ours in-process"):
        table.add_column(col, justify="right" if col not in ("op", "system") else "left")
    for r in rows:
        table.add_row(r.op, r.system, f"{r.seconds:.4f}",
                      "" if r.ratio_to_plaintext is None else f"{r.ratio_to_plaintext:.0f}x",
                      "" if r.bytes_per_party is None else f"{r.bytes_per_party:,}",
                      "" if r.rounds is None else str(r.rounds),
                      "" if r.vs_ours is None or r.system.startswith("secured in") else f"{r.vs_ours:.1f}x")
    console = Console(width=max(Console().width, 120))
    console.print(table)
    if not any(r.system.startswith("CrypTen") for r in rows):
        console.print("CrypTen not run: `make peers` installs it in .venv-peers (or set SECURED_CRYPTEN_PYTHON).")
    console.print("CrypTen's bytes are what its own communicator counts on rank 0. Targets: CrypTen / ours"
                  " >= 5x (matmul) and >= 3x (ReLU); ReLU <= 7 rounds.")
    return 0
