"""Every Python block of the README runs, in order, each in a fresh namespace inside a
temporary folder with its own SECURED_HOME (so the hub example writes nothing outside it)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BLOCKS = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)


def test_the_readme_has_examples():
    assert len(BLOCKS) >= 5


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_block_runs(index, tmp_path, monkeypatch, request):
    code = BLOCKS[index]
    if "Ray" in code or "Cluster(" in code:
        request.getfixturevalue("ray_runtime")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SECURED_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SECURED_DB_URL", raising=False)
    monkeypatch.delenv("SECURED_LAKE_URL", raising=False)
    exec(compile(code, f"README.md block {index + 1}", "exec"), {"__name__": "readme"})
