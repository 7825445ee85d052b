"""Running Anonymeter 1.1.0 as a side-by-side baseline from its own environment
(``make peers`` creates ``.venv-anon``; or set SECURED_ANONYMETER_PYTHON)."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

import pandas as pd

__all__ = ["anonymeter_python", "run_anonymeter"]

ROOT = Path(__file__).resolve().parents[2]


def anonymeter_python() -> str | None:
    """The Python of an environment with Anonymeter, or None."""
    for candidate in (os.environ.get("SECURED_ANONYMETER_PYTHON"), str(ROOT / ".venv-anon" / "bin" / "python")):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def run_anonymeter(python: str, ori: pd.DataFrame, ctl: pd.DataFrame, attacks: list[dict],
                   numeric: list[str]) -> dict[str, dict]:
    """Each attack spec (see _anonymeter_worker.py) run with release = original; by name:
    mean risk over the spec's seeds and seconds per run. Empty when the worker fails."""
    with tempfile.TemporaryDirectory() as tmp:
        ori.to_parquet(f"{tmp}/o.parquet")
        ctl.to_parquet(f"{tmp}/c.parquet")
        job = {"original": f"{tmp}/o.parquet", "control": f"{tmp}/c.parquet", "attacks": attacks, "numeric": numeric}
        worker = Path(__file__).with_name("_anonymeter_worker.py")
        done = subprocess.run([python, str(worker)], input=json.dumps(job), capture_output=True, text=True)
        if done.returncode != 0:
            return {}
        return {r["name"]: r for r in json.loads(done.stdout.strip().splitlines()[-1])}
