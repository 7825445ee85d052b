"""The HTTP app (first draft) driven over ASGI with httpx: health without a token, every other
route refused without one, the hub's visibility rule through HTTP, a bias report of an upload
equal to the library's, bad uploads refused with 4xx and no value in the body."""

from __future__ import annotations

import io

import pandas as pd
import pytest

import httpx  # noqa: E402,F401  (requirements.txt; the test client needs it)

from secured.bias import bias_report  # noqa: E402
from secured.cluster.serve import build_app  # noqa: E402
from secured.data import load  # noqa: E402
from secured.hub import Hub  # noqa: E402

MARK = "QQHTTPMARK"


@pytest.fixture
def served(tmp_path):
    hub, admin = Hub.init(f"sqlite:///{tmp_path / 'hub.db'}", (tmp_path / "lake").as_uri())
    for name, role in (("hosp-a", "producer"), ("lab-r", "researcher")):
        hub.add_member(admin, name, role)
    tokens = {m: hub.create_token(admin, m, ["read", "write"]) for m in ("hosp-a", "lab-r")}
    app = build_app(hub, max_upload_bytes=1_000_000)
    from fastapi.testclient import TestClient

    client = TestClient(app)
    yield client, hub, tokens
    client.close()
    hub.engine.dispose()


def _auth(token):
    return {"Authorization": f"Bearer {token}"}


def test_health_and_auth(served):
    client, hub, t = served
    assert client.get("/v1/health").json()["status"] == "ok"
    assert client.get("/openapi.json").status_code == 200
    for headers in ({}, {"Authorization": "Token x"}, {"Authorization": f"Bearer sk_{MARK}"}):
        res = client.get("/v1/models", headers=headers)
        assert res.status_code == 401 and MARK not in res.text
    hub.register_dataset(t["hosp-a"], title="private release", schema=[{"name": "age", "type": "str"}],
                         visibility="members", readers=[])
    assert client.get("/v1/datasets", headers=_auth(t["lab-r"])).json() == []
    assert len(client.get("/v1/datasets", headers=_auth(t["hosp-a"])).json()) == 1


def test_bias_report_over_http_equals_the_library(served):
    client, hub, t = served
    table = load("adult").head(3000)
    body = table.to_csv(index=False).encode()
    res = client.post("/v1/bias/report", headers=_auth(t["lab-r"]), files={"table": ("a.csv", body, "text/csv")},
                      data={"protected": "sex,race", "target": "salary-class", "positive": ">50K"})
    assert res.status_code == 200, res.text
    direct = bias_report(pd.read_csv(io.BytesIO(body), dtype=str), ["sex", "race"], "salary-class", positive=">50K")
    assert res.json()["findings"]["max_statistical_parity_difference"] == pytest.approx(
        direct.findings["max_statistical_parity_difference"])


def test_bad_uploads_are_4xx_without_values(served):
    client, hub, t = served
    bad = pd.DataFrame({"g": [MARK] * 30, "y": [0, 1] * 15}).to_csv(index=False).encode()
    cases = [
        ({"table": ("a.txt", b"\x00\x01" + MARK.encode(), "application/octet-stream")}, {"protected": "g"}, 400),
        ({"table": ("a.csv", bad, "text/csv")}, {"protected": "nope"}, 400),
        ({"table": ("a.csv", bad, "text/csv")}, {"protected": "g"}, 400),          # one group only
        ({"table": ("a.csv", b"x" * 1_200_000, "text/csv")}, {"protected": "g"}, 413),
    ]
    for files, data, status in cases:
        res = client.post("/v1/bias/report", headers=_auth(t["lab-r"]), files=files, data=data)
        assert res.status_code == status, res.text
        assert MARK not in res.text
    res = client.post("/v1/bias/report", files={"table": ("a.csv", bad, "text/csv")}, data={"protected": "g"})
    assert res.status_code == 401
