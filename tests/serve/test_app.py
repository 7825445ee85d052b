"""The HTTP app driven in process (httpx over ASGI, a job runner thread): every route's happy
path checked against the library or an independent recomputation, the token rule on every
kind of refusal, and bad input answered with a 4xx that names no value and writes nothing."""

from __future__ import annotations

import io
import json
import time

import numpy as np
import pandas as pd
import pytest

import httpx  # noqa: F401  (requirements.txt; the test client needs it)

from secured.bias import bias_report
from secured.cluster.serve import build_app
from secured.data import load
from secured.hub import Hub

MARK = "QQHTTPMARK"


@pytest.fixture
def served(tmp_path):
    from fastapi.testclient import TestClient

    hub, admin = Hub.init(f"sqlite:///{tmp_path / 'hub.db'}", (tmp_path / "lake").as_uri())
    for name, role in (("hosp-a", "producer"), ("hosp-b", "producer"), ("lab-r", "researcher")):
        hub.add_member(admin, name, role)
    tokens = {m: hub.create_token(admin, m, ["read", "write"]) for m in ("hosp-a", "hosp-b", "lab-r")}
    tokens["admin"] = admin
    tokens["reader"] = hub.create_token(admin, "hosp-a", ["read"])
    from secured.cluster.serve.runner import JobRunner

    app = build_app(hub, max_upload_bytes=1_000_000, runner=JobRunner(hub, poll=0.05, heartbeat=0.2, stale_after=2))
    client = TestClient(app)
    yield client, hub, tokens
    client.close()
    app.state.runner.stop()
    hub.engine.dispose()


def _auth(token):
    return {"Authorization": f"Bearer {token}"}


def _csv(df):
    return df.to_csv(index=False).encode()


def _submit(client, token, route, files, **params):
    files = {name: (f"{name}.csv", _csv(df), "text/csv") if isinstance(df, pd.DataFrame) else df
             for name, df in files.items()}
    return client.post(route, headers=_auth(token), files=files, data={"params": json.dumps(params)})


def _done(client, token, res):
    assert res.status_code == 202, res.text
    view = client.get(f"/v1/jobs/{res.json()['id']}", params={"wait": 30}, headers=_auth(token)).json()
    assert view["state"] == "succeeded", view
    return view


def _output(client, token, view, name):
    res = client.get(f"/v1/jobs/{view['id']}/outputs/{name}", headers=_auth(token))
    assert res.status_code == 200
    return res


def _k(df, qis):
    return int(df.groupby(qis, dropna=False).size().min())


def test_health_and_every_refusal(served):
    client, hub, t = served
    assert client.get("/v1/health").json()["status"] == "ok"
    assert client.get("/openapi.json").status_code == 200 and client.get("/docs").status_code == 200
    for headers in ({}, {"Authorization": "Token x"}, {"Authorization": f"Bearer sk_{MARK}"},
                    {"Authorization": "Bearer sk_0123456789abcdef_" + "x" * 40}):
        res = client.get("/v1/models", headers=headers)
        assert res.status_code == 401 and MARK not in res.text
    revoked = hub.create_token(t["admin"], "lab-r", ["read"])
    hub.revoke_token(t["admin"], revoked.split("_")[1])
    assert client.get("/v1/models", headers=_auth(revoked)).status_code == 401
    expiring = hub.create_token(t["admin"], "lab-r", ["read"], expires_in_days=0.5 / 86400)
    time.sleep(1.0)
    assert client.get("/v1/models", headers=_auth(expiring)).status_code == 401
    table = load("adult").head(200)
    res = _submit(client, t["reader"], "/v1/anonymize", {"table": table}, quasi_identifiers=["age"])
    assert res.status_code == 403                                           # read-only token, a write route
    assert client.get("/v1/audit", headers=_auth(t["hosp-a"])).status_code == 403
    hub.register_dataset(t["hosp-a"], title="private release", schema=[{"name": "age", "type": "str"}],
                         visibility="members", readers=[])
    assert client.get("/v1/datasets", headers=_auth(t["lab-r"])).json() == []
    assert len(client.get("/v1/datasets", headers=_auth(t["hosp-a"])).json()) == 1
    audit = client.get("/v1/audit", headers=_auth(t["admin"]), params={"limit": 1000}).json()
    assert sum(1 for a in audit if not a["allowed"]) >= 6


def test_anonymize_job_publish_and_fetch_from_the_lake(served):
    client, hub, t = served
    table = load("adult").head(3000)
    qis = ["age", "sex", "race"]
    view = _done(client, t["hosp-a"], _submit(client, t["hosp-a"], "/v1/anonymize", {"table": table},
                                              quasi_identifiers=qis, k=10, method="mondrian", numeric=["age"]))
    release = pd.read_parquet(io.BytesIO(_output(client, t["hosp-a"], view, "release").content))
    assert _k(release, qis) == view["result"]["k"] >= 10                   # the claim recomputed from the file
    recoding = _output(client, t["hosp-a"], view, "recoding").json()
    assert recoding["format"].startswith("secured-recoding")
    # another member cannot see the job or its outputs
    assert client.get(f"/v1/jobs/{view['id']}", headers=_auth(t["hosp-b"])).status_code == 404
    assert client.get(f"/v1/jobs/{view['id']}/outputs/release", headers=_auth(t["hosp-b"])).status_code == 404
    res = client.post(f"/v1/jobs/{view['id']}/publish", headers=_auth(t["hosp-a"]),
                      json={"output": "release", "name": "adult/k10", "visibility": "members", "inventory": True,
                            "title": "Adult k=10"})
    assert res.status_code == 200, res.text
    entry = client.get(f"/v1/datasets/{res.json()['dataset_id']}", headers=_auth(t["hosp-a"])).json()
    assert entry["k"] == view["result"]["k"]
    fetched = client.get("/v1/lake/hosp-a/adult/k10", headers=_auth(t["hosp-a"]))
    assert fetched.status_code == 200 and _k(pd.read_parquet(io.BytesIO(fetched.content)), qis) == entry["k"]
    for who in ("hosp-b", "lab-r"):     # the lake object inherits the entry's visibility, over HTTP too
        assert client.get("/v1/lake/hosp-a/adult/k10", headers=_auth(t[who])).status_code == 404
        assert client.get(f"/v1/datasets/{entry['id']}", headers=_auth(t[who])).status_code == 404
    # a job whose input comes from the lake, read under the caller's visibility
    res = client.post("/v1/anonymize", headers=_auth(t["hosp-b"]), data={
        "params": json.dumps({"quasi_identifiers": qis}), "lake": json.dumps({"table": {"name": "adult/k10",
                                                                                       "owner": "hosp-a"}})})
    assert res.status_code == 404
    jobs = client.get("/v1/jobs", headers=_auth(t["hosp-a"])).json()
    assert [j["id"] for j in jobs] == [view["id"]]
    assert client.delete(f"/v1/jobs/{view['id']}", headers=_auth(t["hosp-a"])).status_code == 204
    assert client.get(f"/v1/jobs/{view['id']}", headers=_auth(t["hosp-a"])).status_code == 404


def test_assess_protect_bias_synth_and_aggregate_jobs(served):
    client, hub, t = served
    tok = t["hosp-a"]
    adult = load("adult").head(2400)
    members, control = adult.iloc[:2000], adult.iloc[2000:]
    qis = ["age", "sex", "race"]
    view = _done(client, tok, _submit(client, tok, "/v1/protect", {"table": members, "control": control},
                                      quasi_identifiers=qis, max_risk=0.3, k_values=[5, 20], methods=["optimal"],
                                      n_attacks=200, n_singling=50, max_attacks=400))
    assert view["result"]["passed"]
    release = pd.read_parquet(io.BytesIO(_output(client, tok, view, "release").content))
    assert _k(release, qis) >= view["result"]["chosen"]["k"]
    assessed = _done(client, tok, client.post("/v1/assess", headers=_auth(tok), files={
        "original": ("o.csv", _csv(members), "text/csv"), "release": ("r.parquet", _output(client, tok, view,
                                                                                            "release").content),
        "control": ("c.csv", _csv(control), "text/csv"),
        "recoding": ("rec.json", _output(client, tok, view, "recoding").content, "application/json")},
        data={"params": "{}"}))
    assert assessed["result"]["max_risk_upper"] < 0.3

    res = client.post("/v1/bias/report", headers=_auth(t["lab-r"]), files={"table": ("a.csv", _csv(adult))},
                      data={"protected": "sex,race", "target": "salary-class", "positive": ">50K"})
    direct = bias_report(pd.read_csv(io.BytesIO(_csv(adult)), dtype=str), ["sex", "race"], "salary-class",
                         positive=">50K")
    assert res.json()["findings"]["max_statistical_parity_difference"] == pytest.approx(
        direct.findings["max_statistical_parity_difference"])
    mitigated = _done(client, tok, _submit(client, tok, "/v1/bias/mitigate", {"table": adult}, protected=["sex"],
                                           target="salary-class", positive=">50K"))
    weighted = pd.read_parquet(io.BytesIO(_output(client, tok, mitigated, "table").content))
    rates = weighted.assign(y=(weighted["salary-class"] == ">50K") * weighted["weight"]).groupby("sex")
    rate = rates["y"].sum() / rates["weight"].sum()
    assert rate.max() - rate.min() < 1e-9                                  # full reweighing: equal rates

    small = adult[["age", "sex", "education"]].head(600)
    fitted = _done(client, tok, _submit(client, tok, "/v1/synth/fit", {"table": small}, generator="copula"))
    res = client.post(f"/v1/jobs/{fitted['id']}/publish", headers=_auth(tok),
                      json={"output": "generator", "to": "model", "name": "adult-gen", "access": "sample",
                            "visibility": "all"})
    assert res.status_code == 200, res.text
    rows = client.post("/v1/models/adult-gen/sample", headers=_auth(t["lab-r"]), json={"n": 50, "seed": 3})
    assert rows.status_code == 200 and len(rows.json()["rows"]) == 50
    assert client.get("/v1/models/adult-gen/download", headers=_auth(t["lab-r"])).status_code == 403
    synthetic = pd.DataFrame(rows.json()["rows"], columns=rows.json()["columns"])
    evaluated = _done(client, tok, _submit(client, tok, "/v1/synth/evaluate", {
        "real_train": small.head(300), "synthetic": synthetic, "real_holdout": small.tail(300)}, privacy=False))
    from secured.synth import evaluate, typed

    def parsed(df):                                   # the tables as the server read the uploads
        return typed(pd.read_csv(io.BytesIO(_csv(df)), dtype=str, keep_default_na=False, na_values=[""]))

    direct = evaluate(parsed(small.head(300)), parsed(synthetic), parsed(small.tail(300)), privacy=False)
    assert evaluated["result"]["rows"] == direct["rows"]
    assert evaluated["result"]["shapes"]["mean"] == pytest.approx(direct["shapes"]["mean"])

    rng = np.random.default_rng(0)
    current = [rng.normal(size=(3, 2)), rng.normal(size=4)]
    updates = [([rng.normal(size=(3, 2)), rng.normal(size=4)], n) for n in (10, 30, 60)]

    def npz(arrays, n=None):
        buffer = io.BytesIO()
        np.savez(buffer, *arrays, **({} if n is None else {"num_examples": n}))
        return buffer.getvalue()

    res = client.post("/v1/federation/aggregate", headers=_auth(tok),
                      data={"params": json.dumps({"strategy": "fedavg"})},
                      files=[("current", ("c.npz", npz(current))), *[("updates", (f"u{i}.npz", npz(a, n)))
                                                                        for i, (a, n) in enumerate(updates)]])
    agg = _done(client, tok, res)
    with np.load(io.BytesIO(_output(client, tok, agg, "params").content)) as out:
        for i in range(2):
            expect = sum(n * a[i] for a, n in updates) / sum(n for _, n in updates)
            np.testing.assert_allclose(out[f"arr_{i}"], expect, rtol=0, atol=1e-12)


def test_bad_input_is_4xx_without_values_and_writes_nothing(served):
    client, hub, t = served
    tok = t["hosp-a"]
    objects = lambda: sorted(p.name for p in hub.store.fs.get_file_info(  # noqa: E731
        __import__("pyarrow.fs", fromlist=["FileSelector"]).FileSelector(f"{hub.store.root}/objects",
                                                                         recursive=True)))
    before = objects()
    bad = pd.DataFrame({"g": [MARK] * 30, "y": [0, 1] * 15})
    cases = [
        ("/v1/anonymize", {"table": ("a.txt", b"\x00\x01" + MARK.encode(), "application/octet-stream")},
         {"quasi_identifiers": ["g"]}, 400),
        ("/v1/anonymize", {"table": ("a.bin", _csv(bad), "application/octet-stream")}, {"quasi_identifiers": ["g"]},
         400),
        ("/v1/anonymize", {"table": ("a.parquet", b"PAR1" + MARK.encode())}, {"quasi_identifiers": ["g"]}, 400),
        ("/v1/anonymize", {"table": ("a.csv", _csv(bad), "text/csv")}, {"quasi_identifiers": [f"{MARK}col"]}, 400),
        ("/v1/anonymize", {"table": ("a.csv", _csv(bad), "text/csv")}, {"quasi_identifiers": ["g"], "k": 1}, 422),
        ("/v1/anonymize", {"table": ("a.csv", _csv(bad), "text/csv")}, {"quasi_identifiers": ["g"], "bogus": 1}, 422),
        ("/v1/anonymize", {"table": ("a.csv", b"x" * 1_200_000, "text/csv")}, {"quasi_identifiers": ["g"]}, 413),
        ("/v1/anonymize", {}, {"quasi_identifiers": ["g"]}, 400),
        ("/v1/anonymize", {"table": ("a.csv", b"g,y\n", "text/csv")}, {"quasi_identifiers": ["g"]}, 400),
        ("/v1/anonymize", {"table": ("a.csv", _csv(bad), "text/csv")},
         {"quasi_identifiers": ["g"], "hierarchies": {"g": "/etc/passwd"}}, 422),
        ("/v1/federation/aggregate", {"current": ("c.npz", MARK.encode())}, {}, 400),
    ]
    for route, files, params, status in cases:
        res = client.post(route, headers=_auth(tok), files=files, data={"params": json.dumps(params)})
        assert res.status_code == status, (route, params, res.text)
        assert MARK not in res.text.replace(f"'{MARK}col'", "")        # a column name is echoed, never a cell
    res = client.post("/v1/anonymize", headers=_auth(tok), files={"table": ("a.csv", _csv(bad), "text/csv")},
                      data={"params": "{not json"})
    assert res.status_code == 400
    res = client.post("/v1/bias/report", headers=_auth(tok), files={"table": ("a.csv", _csv(bad), "text/csv")},
                      data={"protected": "g"})
    assert res.status_code == 400 and MARK not in res.text                  # one group only
    for path in ("/v1/jobs/" + "0" * 32, "/v1/jobs/nope", "/v1/jobs/" + "0" * 32 + "/outputs/release"):
        assert client.get(path, headers=_auth(tok)).status_code == 404
    assert client.post("/v1/jobs/" + "0" * 32 + "/cancel", headers=_auth(tok)).status_code == 404
    assert client.get("/v1/jobs", headers=_auth(tok)).json() == []
    # a search text with a control character (the fuzzer found it): 400, documented, value not echoed
    res = client.get("/v1/datasets", headers=_auth(tok), params={"text": MARK + "\x00"})
    assert res.status_code == 400 and MARK not in res.text
    assert "400" in client.get("/openapi.json").json()["paths"]["/v1/datasets"]["get"]["responses"]
    assert objects() == before                                              # nothing stored


def test_cancel_a_queued_job_and_a_running_one(served):
    client, hub, t = served
    tok = t["hosp-a"]
    client.app.state.runner.stop()                                          # nothing runs: the job stays queued
    res = _submit(client, tok, "/v1/anonymize", {"table": load("adult").head(500)}, quasi_identifiers=["age"])
    job_id = res.json()["id"]
    assert client.post(f"/v1/jobs/{job_id}/cancel", headers=_auth(t["hosp-b"])).status_code == 404
    view = client.post(f"/v1/jobs/{job_id}/cancel", headers=_auth(tok)).json()
    assert view["state"] == "cancelled"
    assert client.post(f"/v1/jobs/{job_id}/cancel", headers=_auth(tok)).status_code == 409
    assert client.get(f"/v1/jobs/{job_id}/outputs/release", headers=_auth(tok)).status_code == 409
    client.app.state.runner.start()
    res = _submit(client, tok, "/v1/synth/fit", {"table": load("adult").head(300)[["age", "sex"]]},
                  generator="tvae", iterations=1_000_000)
    job_id = res.json()["id"]
    deadline = time.monotonic() + 30
    while client.get(f"/v1/jobs/{job_id}", headers=_auth(tok)).json()["state"] == "queued":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    client.post(f"/v1/jobs/{job_id}/cancel", headers=_auth(tok))
    view = client.get(f"/v1/jobs/{job_id}", params={"wait": 30}, headers=_auth(tok)).json()
    assert view["state"] == "cancelled" and view["outputs"] == {} and view["attempts"] == 1
