"""The app on Ray Serve, called over real HTTP on 127.0.0.1 with httpx: health without a token,
401 without one, the hub's rule with one."""

from __future__ import annotations

import socket

import pytest

import httpx  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_answers_over_http(ray_runtime, tmp_path):
    from ray import serve

    from secured.cluster.serve.deploy import serve_app
    from secured.hub import Hub

    db, lake = f"sqlite:///{tmp_path / 'hub.db'}", (tmp_path / "lake").as_uri()
    hub, admin = Hub.init(db, lake)
    hub.add_member(admin, "lab", "researcher")
    token = hub.create_token(admin, "lab", ["read"])
    port = _free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    try:
        serve.run(serve_app(db, lake), route_prefix="/")
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/v1/health", timeout=30).json()["status"] == "ok"
        assert httpx.get(f"{base}/v1/models", timeout=30).status_code == 401
        res = httpx.get(f"{base}/v1/models", headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert res.status_code == 200 and res.json() == []
    finally:
        serve.shutdown()
        hub.engine.dispose()
