"""`secured serve` as a user starts it: a process of its own (its own Ray), answering on the
port it prints within 60 s, jobs kept across a restart of the command."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest

from secured.hub import Hub


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(port, env):
    secured = Path(sys.executable).with_name("secured")
    proc = subprocess.Popen([str(secured), "serve", "--port", str(port)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    start, lines = time.monotonic(), []
    while time.monotonic() - start < 60:
        line = proc.stdout.readline()
        lines.append(line)
        match = re.search(r"serving on (http://\S+?)\s", line)
        if match:
            return proc, match.group(1), time.monotonic() - start
        if proc.poll() is not None:
            break
    _stop(proc)
    raise AssertionError("secured serve did not start:\n" + "".join(lines[-30:]))


def _stop(proc):
    os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


@pytest.mark.slow          # two starts of Ray and Serve in a process of their own (~30 s each on 2 cores)
def test_secured_serve_answers_on_the_printed_port_and_keeps_jobs(tmp_path):
    home = tmp_path / "home"
    hub, admin = Hub.init(f"sqlite:///{home / 'hub.db'}", (home / "lake").as_uri())
    hub.add_member(admin, "hosp", "producer")
    token = hub.create_token(admin, "hosp", ["read", "write"])
    env = {**os.environ, "SECURED_HOME": str(home), "RAY_TMPDIR": tempfile.mkdtemp(prefix="secured-serve-")}
    env.pop("RAY_ADDRESS", None)
    port = _free_port()
    proc, url, seconds = _start(port, env)
    try:
        assert url == f"http://127.0.0.1:{port}" and seconds < 60
        assert httpx.get(f"{url}/v1/health", timeout=30).json()["status"] == "ok"
        auth = {"Authorization": f"Bearer {token}"}
        res = httpx.post(f"{url}/v1/anonymize", headers=auth, timeout=60,
                         files={"table": ("t.csv", b"a,b\nx,p\nx,p\ny,q\ny,q\n", "text/csv")},
                         data={"params": '{"quasi_identifiers": ["a", "b"], "k": 2}'})
        assert res.status_code == 202
        job = httpx.get(f"{url}/v1/jobs/{res.json()['id']}", params={"wait": 30}, headers=auth, timeout=60).json()
        assert job["state"] == "succeeded"
    finally:
        _stop(proc)
    proc, url, _ = _start(port, env)
    try:
        again = httpx.get(f"{url}/v1/jobs/{job['id']}", headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert again.json()["state"] == "succeeded" and again.json()["result"] == job["result"]
    finally:
        _stop(proc)
        hub.engine.dispose()
