"""The application on Ray Serve (ingress, job runners, batched sampler), called over real HTTP
on 127.0.0.1 with httpx: the token rule, a job end to end with the released file's k
recomputed from the file, sampling through the batched deployment, and the faults: a job
runner replica killed mid-job (the job is run again and stored once), a client that
disconnects while waiting (the job goes on), and a restart of the application (every job
kept, a job queued while it was down is run)."""

from __future__ import annotations

import io
import json
import socket
import time

import pandas as pd
import pytest

import httpx

from secured.data import load


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(client, job_id, token, timeout=240.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        view = client.get(f"/v1/jobs/{job_id}", params={"wait": 5}, headers=_auth(token), timeout=30).json()
        if view["state"] not in ("queued", "running"):
            return view
    raise AssertionError("job did not finish")


def _auth(token):
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def served(ray_runtime, tmp_path_factory):
    from ray import serve

    from secured.cluster.serve.deploy import serve_app
    from secured.hub import Hub

    root = tmp_path_factory.mktemp("served")
    db, lake = f"sqlite:///{root / 'hub.db'}", (root / "lake").as_uri()
    hub, admin = Hub.init(db, lake)
    hub.add_member(admin, "hosp", "producer")
    hub.add_member(admin, "lab", "researcher")
    tokens = {"admin": admin, "hosp": hub.create_token(admin, "hosp", ["read", "write"]),
              "lab": hub.create_token(admin, "lab", ["read"])}
    port = _free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})

    def start():
        serve.run(serve_app(db, lake, heartbeat=0.5, stale_after=3.0), route_prefix="/", name="secured")

    start()
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)
    try:
        yield client, hub, tokens, start
    finally:
        client.close()
        serve.shutdown()
        hub.engine.dispose()


def _anonymize(client, token, rows=3000, **params):
    table = load("adult").head(rows)
    body = table.to_csv(index=False).encode()
    params = {"quasi_identifiers": ["age", "sex", "race"], "k": 5, "method": "mondrian", "numeric": ["age"], **params}
    res = client.post("/v1/anonymize", headers=_auth(token), files={"table": ("adult.csv", body, "text/csv")},
                      data={"params": json.dumps(params)})
    assert res.status_code == 202, res.text
    return res.json()["id"], table


def test_tokens_and_a_job_over_http(served):
    client, hub, t, _ = served
    assert client.get("/v1/health").json()["status"] == "ok"
    assert client.get("/v1/models").status_code == 401
    assert client.get("/v1/models", headers=_auth(t["lab"])).json() == []
    job_id, table = _anonymize(client, t["hosp"])
    assert client.get(f"/v1/jobs/{job_id}", headers=_auth(t["lab"])).status_code == 404   # another member's job
    view = _wait(client, job_id, t["hosp"])
    assert view["state"] == "succeeded", view
    release = pd.read_parquet(io.BytesIO(client.get(f"/v1/jobs/{job_id}/outputs/release",
                                                    headers=_auth(t["hosp"])).content))
    k = int(release.groupby(["age", "sex", "race"], dropna=False).size().min())   # recomputed from the file
    assert k == view["result"]["k"] >= 5 and len(release) == len(table) - view["result"]["suppressed"]


def test_sampling_goes_through_the_batched_deployment(served):
    client, hub, t, _ = served
    from secured.synth import GaussianCopula, dumps, typed

    gen = GaussianCopula(seed=0).fit(typed(load("adult").head(500)[["age", "sex", "education"]]))
    hub.publish_model(t["hosp"], "adult-copula", dumps(gen), access="sample", visibility="all")
    bodies = [{"n": 20 + i, "seed": i} for i in range(6)]
    with httpx.Client(base_url=str(client.base_url), timeout=60) as c:
        res = [c.post("/v1/models/adult-copula/sample", headers=_auth(t["lab"]), json=b) for b in bodies]
    for body, r in zip(bodies, res):
        assert r.status_code == 200, r.text
        assert len(r.json()["rows"]) == body["n"] and r.json()["columns"] == ["age", "sex", "education"]
    assert client.get("/v1/models/adult-copula/download", headers=_auth(t["lab"])).status_code == 403
    again = client.post("/v1/models/adult-copula/sample", headers=_auth(t["lab"]), json=bodies[0]).json()
    assert again == res[0].json()                                             # same seed, same rows


def test_a_killed_runner_replica_loses_no_job(served):
    import ray

    client, hub, t, _ = served
    job_id, _ = _anonymize(client, t["hosp"], rows=30000, method="optimal", numeric=[], k=10)
    deadline = time.monotonic() + 60
    while client.get(f"/v1/jobs/{job_id}", headers=_auth(t["hosp"])).json()["state"] != "running":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    replicas = [a for a in ray.util.list_named_actors(all_namespaces=True) if "secured-jobs" in a["name"]]
    assert len(replicas) == 1
    ray.kill(ray.get_actor(replicas[0]["name"], namespace=replicas[0]["namespace"]), no_restart=True)
    view = _wait(client, job_id, t["hosp"])
    assert view["state"] == "succeeded" and view["attempts"] == 2, view
    release = pd.read_parquet(io.BytesIO(client.get(f"/v1/jobs/{job_id}/outputs/release",
                                                    headers=_auth(t["hosp"])).content))
    assert int(release.groupby(["age", "sex", "race"], dropna=False).size().min()) == view["result"]["k"]


def test_disconnect_and_restart_keep_jobs(served):
    from ray import serve

    client, hub, t, start = served
    job_id, _ = _anonymize(client, t["hosp"], rows=30000, method="optimal", numeric=[], k=10)
    # a client that gives up while long-polling (it waits 0.05 s; the job takes longer unless this
    # machine is very fast, and then the poll answers with the finished job)
    with httpx.Client(base_url=str(client.base_url), timeout=0.05) as impatient:
        try:
            answer = impatient.get(f"/v1/jobs/{job_id}", params={"wait": 20}, headers=_auth(t["hosp"]))
            assert answer.json()["state"] == "succeeded", answer.text
        except httpx.TimeoutException:
            pass
    assert _wait(client, job_id, t["hosp"])["state"] == "succeeded"
    before = {j["id"]: j["state"] for j in client.get("/v1/jobs", headers=_auth(t["hosp"])).json()}
    serve.delete("secured")
    queued = hub.submit_job(t["hosp"], "anonymize", {"quasi_identifiers": ["a", "b"], "k": 2, "method": "optimal"},
                            {"table": _parquet(pd.DataFrame({"a": list("xxyyzz"), "b": list("ppqqrr")}))})
    start()
    deadline = time.monotonic() + 60
    while True:
        try:
            after = {j["id"]: j["state"] for j in client.get("/v1/jobs", headers=_auth(t["hosp"])).json()}
            break
        except httpx.HTTPError:
            assert time.monotonic() < deadline
            time.sleep(0.5)
    assert {k: after[k] for k in before} == before
    view = _wait(client, queued, t["hosp"])
    assert view["state"] == "succeeded" and view["result"]["k"] == 2, view


def _parquet(df):
    buffer = io.BytesIO()
    df.to_parquet(buffer, index=False)
    return buffer.getvalue()
