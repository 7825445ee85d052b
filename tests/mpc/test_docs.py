"""The README's table of rounds and bytes per op is what the counters say."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_readme_cost_table_matches_the_counters():
    spec = importlib.util.spec_from_file_location("costs_mpc", ROOT / "benchmarks" / "costs_mpc.py")
    costs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(costs)
    readme = (ROOT / "README.md").read_text()
    documented = re.search(r"<!-- costs:begin -->\n(.*?)\n<!-- costs:end -->", readme, re.S).group(1)
    assert documented.strip() == costs.table().strip()
