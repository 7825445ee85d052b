"""Every Python block of the README runs, in order, each in a fresh namespace inside a
temporary folder with its own SECURED_HOME (so the hub example writes nothing outside it)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BLOCKS = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
CURL = re.findall(r"```bash\n(# curl session.*?)```", (ROOT / "README.md").read_text(), re.S)


@pytest.fixture
def hub_server(tmp_path, monkeypatch):
    """The HTTP app on a free port of 127.0.0.1 (uvicorn, a job runner thread), with
    SECURED_URL and SECURED_TOKEN (a producer's) set as the README's sessions expect."""
    from secured.cluster.serve import build_app
    from secured.hub import Hub
    from tests.serve.http_server import served

    hub, admin = Hub.init(f"sqlite:///{tmp_path / 'served.db'}", (tmp_path / "served-lake").as_uri())
    hub.add_member(admin, "hospital-a", "producer")
    token = hub.create_token(admin, "hospital-a", ["read", "write"])
    app = build_app(hub, runner=True)
    with served(app) as url:
        monkeypatch.setenv("SECURED_URL", url)
        monkeypatch.setenv("SECURED_TOKEN", token)
        yield
    app.state.runner.stop()
    hub.engine.dispose()


def test_the_curl_session_runs(hub_server, tmp_path):
    assert CURL, "the README shows a curl session"
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", CURL[0]], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120,
                            env={**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"})
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.split()
    assert '"succeeded"' in result.stdout and lines[-1] == "401", result.stdout


def test_the_readme_has_examples():
    assert len(BLOCKS) >= 5


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_block_runs(index, tmp_path, monkeypatch, request):
    code = BLOCKS[index]
    if "Ray" in code or "Cluster(" in code:
        request.getfixturevalue("ray_runtime")
    if "secured.client" in code:
        request.getfixturevalue("hub_server")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SECURED_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SECURED_DB_URL", raising=False)
    monkeypatch.delenv("SECURED_LAKE_URL", raising=False)
    exec(compile(code, f"README.md block {index + 1}", "exec"), {"__name__": "readme"})
