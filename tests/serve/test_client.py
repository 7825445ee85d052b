"""The Python client over real HTTP (uvicorn on 127.0.0.1, a job runner thread): each verb's
result checked against the library or a recomputation, and the server's refusals raised as
SECURED's exceptions with the server's message."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from secured.client import Client, JobFailed
from secured.data import load
from secured.exceptions import AccessDenied, BadInputError, ConfigurationError, HubError, NotFound, StateConflict
from secured.hub import Hub


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from secured.cluster.serve import build_app
    from secured.cluster.serve.runner import JobRunner
    from tests.serve.http_server import served

    root = tmp_path_factory.mktemp("client")
    hub, admin = Hub.init(f"sqlite:///{root / 'hub.db'}", (root / "lake").as_uri())
    hub.add_member(admin, "hosp", "producer")
    hub.add_member(admin, "lab", "researcher")
    tokens = {"admin": admin, "hosp": hub.create_token(admin, "hosp", ["read", "write"]),
              "lab": hub.create_token(admin, "lab", ["read", "write"])}
    app = build_app(hub, runner=JobRunner(hub, poll=0.05, heartbeat=0.2, stale_after=2))
    with served(app) as url:
        yield url, hub, tokens
    app.state.runner.stop()
    hub.engine.dispose()


def test_client_verbs(server):
    url, hub, t = server
    adult = load("adult").head(2500)
    qis = ["age", "sex", "race"]
    with Client(url, t["hosp"]) as c:
        assert c.health()["status"] == "ok"
        assert {k["kind"] for k in c.kinds()} >= {"anonymize", "protect", "assess", "synth.fit"}
        seen = []
        job = c.anonymize(adult.iloc[:2000], quasi_identifiers=qis, k=5, method="mondrian", numeric=["age"],
                          progress=seen.append)
        release = job.table("release")
        assert int(release.groupby(qis, dropna=False).size().min()) == job.result["k"] >= 5
        assessed = c.assess(adult.iloc[:2000], release, control=adult.iloc[2000:], recoding=job.json("recoding"),
                            quasi_identifiers=qis, n_attacks=100, n_singling=30)
        assert 0 <= assessed.result["max_risk_upper"] <= 1
        published = job.publish("release", "adult/k5", inventory=True, visibility="all")
        assert c.dataset(published["dataset_id"])["k"] == job.result["k"]
        pd.testing.assert_frame_equal(c.lake_get("hosp", "adult/k5"), release)
        report = c.bias_report(adult, ["sex"], "salary-class", positive=">50K")
        rates = adult.assign(y=adult["salary-class"] == ">50K").groupby("sex")["y"].mean()
        assert report["findings"]["max_statistical_parity_difference"] == pytest.approx(rates.max() - rates.min())
        current = [np.zeros(3)]
        agg = c.aggregate(current, [([np.array([1.0, 2.0, 3.0])], 1), ([np.array([3.0, 2.0, 1.0])], 3)],
                          strategy="median")
        with np.load(__import__("io").BytesIO(agg.bytes("params"))) as out:
            np.testing.assert_allclose(out["arr_0"], [2.0, 2.0, 2.0])
        fit = c.synth_fit(adult[["age", "sex"]].head(400), generator="copula")
        fit.publish("generator", "gen", to="model", access="sample", visibility="all")
    with Client(url, t["lab"]) as lab:
        rows = lab.synth_sample("gen", 25, seed=1)
        assert list(rows.columns) == ["age", "sex"] and len(rows) == 25
        with pytest.raises(AccessDenied, match="sampling only"):
            lab.download_model("gen")
        with pytest.raises(NotFound):
            lab.job(job.id)                                   # another member's job
        with pytest.raises(BadInputError, match="lacks column"):
            lab.anonymize(adult, quasi_identifiers=["no such column"])
        with pytest.raises(ConfigurationError):
            lab.anonymize(adult, quasi_identifiers=qis, k=1)
        failed = lab.submit("anonymize", {"table": adult}, {"quasi_identifiers": ["age"], "k": 100000})
        with pytest.raises(JobFailed):
            failed.wait(timeout=60)
        with pytest.raises(StateConflict):
            lab.output(failed.id, "release")
    with pytest.raises(AccessDenied):
        Client(url, "sk_" + "0" * 16 + "_" + "x" * 30).models()
    with pytest.raises(HubError, match="Could not reach"):
        Client("http://127.0.0.1:9", t["lab"], timeout=2).health()


def test_a_federated_round_over_http(server):
    url, hub, t = server
    rng = np.random.default_rng(1)
    current = [rng.normal(size=(4, 3)), rng.normal(size=3)]
    ups = {m: ([rng.normal(size=(4, 3)), rng.normal(size=3)], n) for m, n in (("hosp", 10), ("lab", 30))}
    hub.add_member(t["admin"], "other", "researcher")
    other = hub.create_token(t["admin"], "other", ["read", "write"])
    with Client(url, t["admin"]) as owner, Client(url, t["hosp"]) as a, Client(url, t["lab"]) as b, \
            Client(url, other) as o:
        rnd = owner.open_round(current, ["hosp", "lab"], strategy="fedavg")
        assert rnd.state == "open"
        a.submit_update(rnd.id, *ups["hosp"])
        with pytest.raises(StateConflict, match="1 of the 2"):
            owner.aggregate_round(rnd.id)                   # every participant is needed by default
        with pytest.raises(StateConflict, match="already"):
            a.submit_update(rnd.id, *ups["hosp"])
        with pytest.raises(NotFound):
            o.submit_update(rnd.id, *ups["lab"])             # not a participant
        with pytest.raises(BadInputError, match="num_examples"):
            b.submit_update(rnd.id, ups["lab"][0], None)
        b.submit_update(rnd.id, *ups["lab"])
        with pytest.raises(NotFound):
            b.aggregate_round(rnd.id)                       # a participant cannot close the round
        done = owner.aggregate_round(rnd.id)
        assert done.result["clients"] == 2 and done.result["examples"] == 40
        with np.load(__import__("io").BytesIO(b.output(rnd.id, "params"))) as out:   # participants read it
            for i in range(2):
                expect = sum(n * p[i] for p, n in ups.values()) / 40
                np.testing.assert_allclose(out[f"arr_{i}"], expect, rtol=0, atol=1e-12)
        with pytest.raises(StateConflict):
            a.submit_update(rnd.id, *ups["hosp"])            # the round is closed
        with pytest.raises(NotFound):
            o.job(rnd.id)
        published = done.publish("params", "fed-model", to="model", visibility="all")
        assert published["version"] == 1
