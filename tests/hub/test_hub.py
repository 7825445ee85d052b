"""The knowledge base on both engines: access control (each refusal audited), durability under
SIGKILL, concurrency, bad input that changes nothing, the lake's checksums, the registry."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from secured.cli.main import app
from secured.data import load
from secured.exceptions import AccessDenied, IntegrityError, NotFound
from secured.hub import Hub, describe_table

SCHEMA = [{"name": "age", "type": "int64"}, {"name": "readmitted", "type": "str"}]


def people(hub):
    admin = hub.admin_token
    for name, role in (("hosp-a", "producer"), ("hosp-b", "producer"), ("lab-r", "researcher")):
        hub.add_member(admin, name, role)
    return {name: hub.create_token(admin, name, ["read", "write"]) for name in ("hosp-a", "hosp-b", "lab-r")}


def refusals(hub, action):
    with hub.engine.connect() as c:
        return c.execute(sa.text("SELECT count(*) FROM audit WHERE allowed = :f AND action = :a"),
                         {"f": False, "a": action}).scalar()


def count(hub, table):
    with hub.engine.connect() as c:
        return c.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar()


def test_init_is_idempotent_and_schema_matches_migrations(hub, db_url, lake_url):
    again, token = Hub.init(db_url, lake_url)
    assert token is None
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from secured.hub.schema import Base

    with hub.engine.connect() as c:
        diff = compare_metadata(MigrationContext.configure(c), Base.metadata)
    assert diff == []
    again.engine.dispose()


def test_access_control_and_audit(hub):
    t = people(hub)
    public = hub.register_dataset(t["hosp-a"], title="encounters 2024", schema=SCHEMA, tags=["diabetes"])
    private = hub.register_dataset(t["hosp-a"], title="private", schema=SCHEMA, visibility="members",
                                   readers=["hosp-b"])
    # a member cannot read entries not visible to it (and cannot tell them from missing ones)
    with pytest.raises(NotFound):
        hub.get_dataset(t["lab-r"], private)
    assert refusals(hub, "dataset.read") == 1
    assert [d["id"] for d in hub.search_datasets(t["lab-r"])] == [public]
    assert hub.get_dataset(t["hosp-b"], private)["title"] == "private"          # named reader
    assert hub.get_dataset(hub.admin_token, private)["owner"] == "hosp-a"       # admins read all
    # a member cannot change another member's entries
    with pytest.raises(AccessDenied):
        hub.update_dataset(t["hosp-b"], public, description="hijacked")
    assert refusals(hub, "dataset.update") == 1
    assert hub.get_dataset(t["lab-r"], public)["description"] == ""
    hub.update_dataset(t["hosp-a"], public, description="owner's edit", tags=["diabetes", "2024"])
    assert hub.get_dataset(t["lab-r"], public)["tags"] == ["2024", "diabetes"]
    # roles and scopes
    with pytest.raises(AccessDenied):
        hub.register_dataset(t["lab-r"], title="x", schema=SCHEMA)
    with pytest.raises(AccessDenied):
        hub.add_member(t["hosp-a"], "intruder", "admin")
    read_only = hub.create_token(t["hosp-a"], scopes=["read"])
    with pytest.raises(AccessDenied, match="'write' scope"):
        hub.register_dataset(read_only, title="y", schema=SCHEMA)
    with pytest.raises(AccessDenied):
        hub.create_token(read_only, scopes=["read", "write"])   # no escalation
    # revoked and expired tokens are refused
    public_id = read_only.split("_")[1]
    with pytest.raises(AccessDenied):
        hub.revoke_token(t["hosp-b"], public_id)                  # not its token
    hub.revoke_token(t["hosp-a"], public_id)
    with pytest.raises(AccessDenied, match="revoked"):
        hub.search_datasets(read_only)
    short = hub.create_token(hub.admin_token, "lab-r", ["read"], expires_in_days=1e-6)
    time.sleep(0.2)
    with pytest.raises(AccessDenied, match="expired"):
        hub.search_datasets(short)
    with pytest.raises(AccessDenied, match="not valid"):
        hub.search_datasets(t["lab-r"][:-4] + "AAAA")
    with pytest.raises(AccessDenied, match="malformed"):
        hub.search_datasets("let me in")
    assert refusals(hub, "dataset.search") == 4 and refusals(hub, "token.revoke") == 1
    assert refusals(hub, "dataset.register") == 2 and refusals(hub, "member.add") == 1
    # every allowed read and write is in the log too
    log = hub.audit_log(hub.admin_token, limit=1000)
    assert {"dataset.register", "dataset.read", "dataset.update", "dataset.search", "token.create"} <= \
        {e["action"] for e in log if e["allowed"]}


def test_search_filters(hub):
    t = people(hub)
    a = hub.register_dataset(t["hosp-a"], title="Diabetes release k5", schema=SCHEMA, k=5, max_risk_upper=0.03,
                             tags=["diabetes"], description="Encounters, anonymized")
    b = hub.register_dataset(t["hosp-b"], title="Synthetic NIST", schema=[{"name": "AGEP", "type": "int"}],
                             synthetic=True, derived_from=a, run="job-7", k=2, max_risk_upper=0.2)
    tok = t["lab-r"]
    assert [d["id"] for d in hub.search_datasets(tok, "diabetes")] == [a]
    assert [d["id"] for d in hub.search_datasets(tok, "ANONYMIZED")] == [a]
    assert [d["id"] for d in hub.search_datasets(tok, synthetic=True)] == [b]
    assert [d["id"] for d in hub.search_datasets(tok, min_k=3)] == [a]
    assert [d["id"] for d in hub.search_datasets(tok, max_risk=0.05)] == [a]
    assert [d["id"] for d in hub.search_datasets(tok, column="AGEP")] == [b]
    assert [d["id"] for d in hub.search_datasets(tok, owner="hosp-b", derived_from=a)] == [b]
    assert [d["id"] for d in hub.search_datasets(tok, tags=["diabetes"])] == [a]
    assert hub.get_dataset(tok, b)["derived_from"] == a and hub.get_dataset(tok, b)["run"] == "job-7"
    c = hub.register_dataset(t["hosp-a"], title="Cohort", schema=SCHEMA, l=3.0, t=0.1, rows=5000, people=4200,
                             location="s3://hosp-a/cohort.parquet", bias={"demographic_parity": 0.12},
                             visibility="members", readers=["lab-r"])
    assert [d["id"] for d in hub.search_datasets(tok, min_l=2, max_t=0.2)] == [c]
    assert [d["id"] for d in hub.search_datasets(tok, min_rows=1000, min_people=4000)] == [c]
    assert [d["id"] for d in hub.search_datasets(tok, visibility="members", location="HOSP-A")] == [c]
    assert [d["id"] for d in hub.search_datasets(tok, has_bias=True)] == [c]
    assert [d["id"] for d in hub.search_datasets(tok, run="job-7")] == [b]
    assert [d["id"] for d in hub.search_datasets(tok, has_bias=False)] == [a, b]


def test_bad_input_changes_nothing(hub):
    t = people(hub)
    before = {x: count(hub, x) for x in ("datasets", "dataset_tags", "dataset_readers", "members")}
    with pytest.raises(NotFound, match="reader") as refused:        # the unknown name is not echoed
        hub.register_dataset(t["hosp-a"], title="x", schema=SCHEMA, visibility="members", readers=["ghost"])
    assert "ghost" not in str(refused.value)
    for bad in ([], [{"name": "a"}], [{"name": "a", "type": "int"}, {"name": "a", "type": "str"}], "age:int",
                [{"name": "a", "type": "int", "extra": 1}]):
        with pytest.raises(IntegrityError, match="schema"):
            hub.register_dataset(t["hosp-a"], title="x", schema=bad)
    with pytest.raises(IntegrityError):
        hub.register_dataset(t["hosp-a"], title="", schema=SCHEMA)
    with pytest.raises(NotFound):
        hub.register_dataset(t["hosp-a"], title="x", schema=SCHEMA, derived_from=999)
    with pytest.raises(IntegrityError, match="role"):
        hub.add_member(hub.admin_token, "m", "superuser")
    with pytest.raises(NotFound):
        hub.create_token(hub.admin_token, "nobody", ["read"])
    assert {x: count(hub, x) for x in before} == before
    hub.register_dataset(t["hosp-a"], title="dup", schema=SCHEMA)
    with pytest.raises(IntegrityError, match="already registered"):
        hub.register_dataset(t["hosp-a"], title="dup", schema=SCHEMA)


def test_lake_versions_and_checksums(hub, tmp_path):
    t = people(hub)
    df = load("nist2019").head(500)
    v1 = hub.lake_put(t["hosp-a"], "synthetic/nist", df)
    assert hub.lake_put(t["hosp-a"], "synthetic/nist", df)["version"] == 1      # same bytes: same version
    v2 = hub.lake_put(t["hosp-a"], "synthetic/nist", df.head(100))
    assert (v1["version"], v2["version"]) == (1, 2) and v1["sha256"] != v2["sha256"]
    pd.testing.assert_frame_equal(hub.lake_get(t["lab-r"], "synthetic/nist", 1, owner="hosp-a"),
                                  df.reset_index(drop=True))
    assert len(hub.lake_get(t["lab-r"], "synthetic/nist", owner="hosp-a")) == 100
    assert len(hub.lake_get(t["hosp-a"], "synthetic/nist")) == 100                # the owner: own namespace
    with pytest.raises(AccessDenied):
        hub.lake_put(t["lab-r"], "synthetic/nist", df)                          # researchers read only
    # another producer's put of the same name lands in its own namespace, blocking nobody
    assert hub.lake_put(t["hosp-b"], "synthetic/nist", df.head(7))["version"] == 1
    assert len(hub.lake_get(t["lab-r"], "synthetic/nist", owner="hosp-b")) == 7
    assert len(hub.lake_get(t["lab-r"], "synthetic/nist", owner="hosp-a")) == 100
    # tamper with the stored object: the read is refused, nothing returned
    root = Path(hub.store.root)
    stored = root / "objects" / v1["sha256"][:2] / v1["sha256"]
    data = bytearray(stored.read_bytes())
    data[len(data) // 2] ^= 0xFF
    stored.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="checksum"):
        hub.lake_get(t["lab-r"], "synthetic/nist", 1, owner="hosp-a")
    with pytest.raises(NotFound):
        hub.lake_get(t["lab-r"], "synthetic/none", owner="hosp-a")
    assert [(o["owner"], o["version"]) for o in hub.lake_list(t["lab-r"])] == [("hosp-a", 1), ("hosp-a", 2),
                                                                               ("hosp-b", 1)]


def test_model_registry(hub):
    t = people(hub)
    v1 = hub.publish_model(t["lab-r"], "readmission-lr", b"weights-1", metrics={"auroc": 0.64},
                           lineage={"clusters": ["hosp-a", "hosp-b"], "datasets": [1], "run": "fed-3"},
                           epsilon=2.0, delta=1e-5, membership_inference={"auc": 0.51}, licence="CC-BY-4.0",
                           aliases=["staging"])
    v2 = hub.publish_model(t["lab-r"], "readmission-lr", b"weights-2", aliases=["prod"])
    secret = hub.publish_model(t["hosp-a"], "in-house", b"w", visibility="members", readers=["hosp-b"])
    assert (v1, v2, secret) == (1, 2, 1)
    info = hub.show_model(t["hosp-a"], "readmission-lr")
    assert info["aliases"] == {"staging": 1, "prod": 2} and info["versions"][0]["epsilon"] == 2.0
    assert info["versions"][0]["lineage"]["run"] == "fed-3" and info["licence"] == "CC-BY-4.0"
    assert hub.download_model(t["hosp-a"], "readmission-lr", "staging") == b"weights-1"
    assert hub.download_model(t["hosp-a"], "readmission-lr") == b"weights-2"
    assert [m["name"] for m in hub.list_models(t["lab-r"])] == ["readmission-lr"]
    with pytest.raises(NotFound):
        hub.download_model(t["lab-r"], "in-house")
    assert hub.download_model(t["hosp-b"], "in-house") == b"w"
    with pytest.raises(AccessDenied):
        hub.publish_model(t["hosp-a"], "readmission-lr", b"evil")
    with pytest.raises(IntegrityError):
        hub.publish_model(t["lab-r"], "m2", b"x", epsilon=-1)
    with pytest.raises(NotFound):
        hub.download_model(t["hosp-a"], "readmission-lr", "canary")


_WRITER = textwrap.dedent("""
    import sys
    from secured.hub import Hub
    hub = Hub(sys.argv[1], sys.argv[2])
    token, prefix, n = sys.argv[3], sys.argv[4], int(sys.argv[5])
    for i in range(n):
        dataset_id = hub.register_dataset(token, title=f"{prefix}-{i}", tags=["t1", "t2"], visibility="members",
                                          readers=["hosp-b"],
                                          schema=[{"name": f"c{j}", "type": "int"} for j in range(20)])
        print(dataset_id, flush=True)
""")


def test_sigkill_mid_registration_loses_nothing_committed(hub, db_url, lake_url, tmp_path):
    t = people(hub)
    script = tmp_path / "writer.py"
    script.write_text(_WRITER)
    proc = subprocess.Popen([sys.executable, str(script), db_url, lake_url, t["hosp-a"], "k", "100000"],
                            stdout=subprocess.PIPE, text=True)
    committed = []
    deadline = time.time() + 60
    while len(committed) < 40 and time.time() < deadline:
        committed.append(int(proc.stdout.readline()))
    time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    committed += [int(x) for x in proc.stdout.read().split()]
    with hub.engine.connect() as c:
        rows = c.execute(sa.text("SELECT d.id, (SELECT count(*) FROM dataset_tags g WHERE g.dataset_id = d.id), "
                                 "(SELECT count(*) FROM dataset_readers r WHERE r.dataset_id = d.id) "
                                 "FROM datasets d")).all()
    ids = {r[0] for r in rows}
    assert set(committed) <= ids                       # nothing acknowledged was lost
    assert len(ids) <= len(committed) + 1              # at most the one in flight committed unacknowledged
    assert all(tags == 2 and readers == 1 for _, tags, readers in rows)   # no partial entry
    assert all(len(d["schema"]) == 20 for d in hub.search_datasets(t["hosp-a"], limit=10**6))


def _register_many(db_url, lake_url, token, prefix, n):
    hub = Hub(db_url, lake_url, migrate=False)
    for i in range(n):
        hub.register_dataset(token, title=f"{prefix}-{i}", schema=SCHEMA)
    hub.engine.dispose()


def test_concurrent_writers(hub, db_url, lake_url):
    t = people(hub)
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_register_many, args=(db_url, lake_url, t["hosp-a" if i % 2 else "hosp-b"], f"w{i}",
                                                      500)) for i in range(8)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=600)
    assert [p.exitcode for p in procs] == [0] * 8
    with hub.engine.connect() as c:
        total, distinct = c.execute(sa.text("SELECT count(*), count(DISTINCT title) FROM datasets")).one()
    assert (total, distinct) == (4000, 4000)


def test_cli_init_and_register_from_anonymize(tmp_path, monkeypatch):
    runner = CliRunner()
    monkeypatch.setenv("SECURED_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SECURED_DB_URL", raising=False)
    monkeypatch.delenv("SECURED_LAKE_URL", raising=False)
    result = runner.invoke(app, ["hub", "init", "--admin", "hub-admin"])
    assert result.exit_code == 0, result.output
    token = [line for line in result.output.splitlines() if line.startswith("sk_")][0]
    monkeypatch.setenv("SECURED_TOKEN", token)
    src = tmp_path / "adult.csv"
    load("adult").head(3000).to_csv(src, index=False)
    from secured.data import path

    out = tmp_path / "adult_k5.csv"
    result = runner.invoke(app, ["anonymize", str(src), "--quasi-identifiers", "sex,age,race", "--k", "5",
                                 "--hierarchy", f"sex={path('arx/adult_hierarchy_sex.csv')}",
                                 "--hierarchy", f"age={path('arx/adult_hierarchy_age.csv')}",
                                 "--hierarchy", f"race={path('arx/adult_hierarchy_race.csv')}",
                                 "--out", str(out), "--register", "--tags", "adult,k5"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["hub", "dataset", "search", "--tag", "k5"])
    assert result.exit_code == 0, result.output
    [entry] = json.loads(result.output)
    release = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert entry["title"] == "adult_k5" and entry["rows"] == len(release)
    assert entry["k"] == release.groupby(["sex", "age", "race"]).size().min() >= 5
    result = runner.invoke(app, ["hub", "lake", "put", "adult/k5", str(out)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["hub", "lake", "get", "adult/k5", str(tmp_path / "back.parquet")])
    assert result.exit_code == 0 and len(pd.read_parquet(tmp_path / "back.parquet")) == len(pd.read_csv(out))
    result = runner.invoke(app, ["hub", "dataset", "update", str(entry["id"]), "--description", "Adult, k-anonymous",
                                 "--tags", "adult,k5,reviewed"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["hub", "dataset", "show", str(entry["id"])])
    shown = json.loads(result.output)
    assert shown["description"] == "Adult, k-anonymous" and shown["tags"] == ["adult", "k5", "reviewed"]
    result = runner.invoke(app, ["hub", "dataset", "update", str(entry["id"])])
    assert result.exit_code == 2 and "Nothing to change" in result.output
    result = runner.invoke(app, ["hub", "audit", "--limit", "5"])
    assert result.exit_code == 0 and '"dataset.update"' in result.output
    monkeypatch.setenv("SECURED_TOKEN", "sk_0000000000000000_" + "A" * 43)
    result = runner.invoke(app, ["hub", "dataset", "list"])
    assert result.exit_code == 2 and "not valid" in result.output
    assert describe_table(pd.read_csv(out))["rows"] == len(pd.read_csv(out))
