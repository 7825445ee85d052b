"""The attacks of a hostile member on the hub, each reproduced and refused (and audited) on both
engines: lake access control, token minting, per-version model visibility, audit gaps and raw
database errors, file modes, name squatting and look-alike names, the report mapping."""

from __future__ import annotations

import json
import math
import os
import stat
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from secured.cli.main import app
from secured.exceptions import AccessDenied, HubError, IntegrityError, NotFound
from secured.hub import Hub, inventory_fields

SCHEMA = [{"name": "age", "type": "int64"}, {"name": "readmitted", "type": "str"}]
MARK = "zzmark"                       # a caller-provided value no message may echo
TABLE = pd.DataFrame({"age": [34, 51, 67], "readmitted": ["no", "yes", "no"]})


def people(hub):
    admin = hub.admin_token
    for name, role in (("hosp-a", "producer"), ("hosp-b", "producer"), ("lab-r", "researcher")):
        hub.add_member(admin, name, role)
    return {name: hub.create_token(admin, name, ["read", "write"]) for name in ("hosp-a", "hosp-b", "lab-r")}


def refusal_count(hub, action=None):
    query = "SELECT count(*) FROM audit WHERE allowed = :f" + (" AND action = :a" if action else "")
    with hub.engine.connect() as c:
        return c.execute(sa.text(query), {"f": False, "a": action}).scalar()


def refused(hub, error, fn, *args, **kwargs):
    """Call ``fn``; it must raise ``error``, add exactly one refusal row and echo nothing."""
    before = refusal_count(hub)
    with pytest.raises(error) as info:
        fn(*args, **kwargs)
    assert refusal_count(hub) == before + 1, f"{fn.__name__} refused without exactly one audit row"
    assert MARK not in str(info.value)
    return info.value


def public_id(token):
    return token.split("_")[1]


# -- 1. lake access control ---------------------------------------------------------------------

def test_lake_objects_have_visibility_and_inherit_it(hub):
    t = people(hub)
    a, b, r, admin = t["hosp-a"], t["hosp-b"], t["lab-r"], hub.admin_token
    # own visibility, set at put
    hub.lake_put(a, "cohort/raw", TABLE, visibility="members", readers=["hosp-b"])
    assert [o["name"] for o in hub.lake_list(r)] == []
    refused(hub, NotFound, hub.lake_get, r, "cohort/raw", owner="hosp-a")
    assert len(hub.lake_get(b, "cohort/raw", owner="hosp-a")) == 3                 # a named reader
    assert len(hub.lake_get(admin, "cohort/raw", owner="hosp-a")) == 3             # admins read everything
    # inherited from the (restricted) dataset entry recording the object's bytes
    put = hub.lake_put(a, "cohort/synthetic", TABLE.head(2))
    assert put["visibility"] == "all" and [o["name"] for o in hub.lake_list(r)] == ["cohort/synthetic"]
    hub.register_dataset(a, title="synthetic cohort", schema=SCHEMA, lake_object=put["sha256"],
                         visibility="members", readers=["hosp-b"])
    assert hub.lake_list(r) == []
    refused(hub, NotFound, hub.lake_get, r, "cohort/synthetic", owner="hosp-a")
    assert len(hub.lake_get(b, "cohort/synthetic", owner="hosp-a")) == 2
    assert {o["name"] for o in hub.lake_list(admin)} == {"cohort/raw", "cohort/synthetic"}
    assert {o["name"] for o in hub.lake_list(a)} == {"cohort/raw", "cohort/synthetic"}   # the owner
    # another member's entry cannot hide hosp-a's public object
    open_put = hub.lake_put(a, "open/table", TABLE.head(1))
    hub.register_dataset(b, title="squat", schema=SCHEMA, lake_object=open_put["sha256"], visibility="members")
    assert [o["name"] for o in hub.lake_list(r)] == ["open/table"]
    # the latest version is the newest visible one; an invisible version is refused
    hub.lake_put(a, "open/table", TABLE, visibility="members")
    assert [o["version"] for o in hub.lake_list(r)] == [1]
    assert len(hub.lake_get(r, "open/table", owner="hosp-a")) == 1
    refused(hub, NotFound, hub.lake_get, r, "open/table", 2, owner="hosp-a")
    assert len(hub.lake_get(a, "open/table")) == 3
    # same bytes, other visibility: a new version, not the old one
    again = hub.lake_put(a, "open/table", TABLE.head(1), visibility="members")
    assert again["version"] == 3 and again["sha256"] == open_put["sha256"]
    assert refusal_count(hub, "lake.get") == 3


def test_lake_objects_and_folders_are_private(hub):
    t = people(hub)
    put = hub.lake_put(t["hosp-a"], "synthetic/x", TABLE)
    root = Path(hub.store.root)
    obj = root / "objects" / put["sha256"][:2] / put["sha256"]
    assert stat.S_IMODE(obj.stat().st_mode) == 0o600
    for folder in (root, root / "objects", obj.parent):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    hub.publish_model(t["hosp-a"], "m", b"weights")
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in (root / "objects").rglob("*") if p.is_file())


# -- 2. tokens --------------------------------------------------------------------------------

def test_tokens_cannot_outlive_or_outrank_their_creator(hub):
    t = people(hub)
    a = t["hosp-a"]
    refused(hub, AccessDenied, hub.create_token, a, scopes=["read"], expires_in_days=None)     # never-expiring
    refused(hub, AccessDenied, hub.create_token, a, scopes=["read"], expires_in_days=1000)     # outlives a
    refused(hub, AccessDenied, hub.create_token, a, scopes=["read", "admin"])                   # outranks a
    child = hub.create_token(a, scopes=["read"])                  # default: 90 days, cut to a's expiry
    listed = {x["id"]: x for x in hub.list_tokens(a)}
    assert listed[public_id(child)]["created_by"] == public_id(a)
    assert listed[public_id(child)]["expires_at"] <= listed[public_id(a)]["expires_at"]
    assert listed[public_id(a)]["created_by"] == public_id(hub.admin_token)
    assert listed[public_id(child)]["scopes"] == ["read"]
    # the audit names the new token (target) and the acting token
    log = [e for e in hub.audit_log(hub.admin_token, limit=1000) if e["action"] == "token.create" and e["allowed"]]
    assert log[0]["target"] == public_id(child) and log[0]["token"] == public_id(a)
    # never the secret or its hash
    text = json.dumps(hub.list_tokens(hub.admin_token, "hosp-a"))
    with hub.engine.connect() as c:
        hashes = [h for (h,) in c.execute(sa.text("SELECT secret_hash FROM tokens"))]
    assert all(tok.split("_", 2)[2] not in text for tok in (a, child)) and not any(h in text for h in hashes)
    assert set(hub.list_tokens(a)[0]) == {"id", "member", "scopes", "expires_at", "created_by", "created_at",
                                          "last_used_at", "revoked_at"}
    refused(hub, AccessDenied, hub.list_tokens, t["hosp-b"], "hosp-a")
    # revoking a token revokes what it created, transitively
    grandchild = hub.create_token(child, scopes=["read"])
    assert hub.search_datasets(grandchild) == []
    assert hub.revoke_token(a, public_id(child)) == 2
    refused(hub, AccessDenied, hub.search_datasets, grandchild)
    refused(hub, AccessDenied, hub.search_datasets, child)
    assert hub.search_datasets(a) == []                          # the parent is untouched
    # revoking the parent revokes its whole family
    other = hub.create_token(t["lab-r"], scopes=["read"])
    hub.revoke_token(hub.admin_token, public_id(t["lab-r"]))
    with pytest.raises(AccessDenied, match="revoked"):
        hub.search_datasets(other)


def test_a_token_is_refused_when_its_creator_expired(hub):
    t = people(hub)
    child = hub.create_token(t["hosp-a"], scopes=["read"], expires_in_days=1)
    # an expiry set by an older hub (before the creation rule): the chain decides
    with hub.engine.begin() as c:
        c.execute(sa.text("UPDATE tokens SET expires_at = :past WHERE public_id = :id"),
                  {"past": datetime.now(timezone.utc) - timedelta(days=1), "id": public_id(t["hosp-a"])})
    with pytest.raises(AccessDenied, match="expired"):
        hub.search_datasets(child)
    short = hub.create_token(hub.admin_token, "lab-r", ["read"], expires_in_days=1e-6)
    time.sleep(0.2)
    refused(hub, AccessDenied, hub.create_token, short, scopes=["read"])


def test_last_use_is_recorded(hub):
    t = people(hub)
    assert {x["id"]: x for x in hub.list_tokens(hub.admin_token, "lab-r")}[public_id(t["lab-r"])][
        "last_used_at"] is None
    hub.search_datasets(t["lab-r"])
    used = {x["id"]: x for x in hub.list_tokens(hub.admin_token, "lab-r")}[public_id(t["lab-r"])]["last_used_at"]
    assert used is not None
    hub.search_datasets(t["lab-r"])                               # within the minute: no new write
    assert {x["id"]: x for x in hub.list_tokens(t["lab-r"])}[public_id(t["lab-r"])]["last_used_at"] == used


@pytest.mark.parametrize("days", [1e12, math.nan, math.inf, -math.inf, -1, 0, "5", True, 3651])
def test_bad_expiry_is_refused_cleanly(hub, days):
    err = refused(hub, IntegrityError, hub.create_token, hub.admin_token, "admin", ["read"], days)
    assert "expires_in_days" in str(err)


def test_cli_token_days_out_of_range(tmp_path, monkeypatch):
    runner = CliRunner()
    monkeypatch.setenv("SECURED_HOME", str(tmp_path / "home"))
    for var in ("SECURED_DB_URL", "SECURED_LAKE_URL"):
        monkeypatch.delenv(var, raising=False)
    result = runner.invoke(app, ["hub", "init"])
    token = [line for line in result.output.splitlines() if line.startswith("sk_")][0]
    monkeypatch.setenv("SECURED_TOKEN", token)
    for days in ("1e12", "nan", "inf"):
        result = runner.invoke(app, ["hub", "token", "create", "--days", days])
        assert result.exit_code == 2 and "expires_in_days" in result.output and "Traceback" not in result.output
    result = runner.invoke(app, ["hub", "token", "create", "--days", "2"])
    child = result.output.strip()
    assert result.exit_code == 0 and child.startswith("sk_")
    monkeypatch.setenv("SECURED_TOKEN", child)
    result = runner.invoke(app, ["hub", "token", "create", "--no-expiry"])
    assert result.exit_code == 2 and "never expires" in result.output
    result = runner.invoke(app, ["hub", "token", "list"])
    assert result.exit_code == 0, result.output
    entries = {e["id"]: e for e in json.loads(result.output)}
    assert entries[public_id(child)]["created_by"] == public_id(token) and "secret" not in result.output


# -- 3. model visibility per version -------------------------------------------------------------

def test_model_visibility_is_per_version(hub):
    t = people(hub)
    a, b, r, admin = t["hosp-a"], t["hosp-b"], t["lab-r"], hub.admin_token
    hub.publish_model(r, "readmission", b"public-1", aliases=["stable"])
    hub.publish_model(r, "readmission", b"members-2", aliases=["prod"], visibility="members", readers=["hosp-b"])
    # hosp-a sees version 1 only
    [listed] = hub.list_models(a)
    assert [v["version"] for v in listed["versions"]] == [1] and listed["aliases"] == {"stable": 1}
    assert [v["version"] for v in hub.show_model(a, "readmission")["versions"]] == [1]
    assert hub.download_model(a, "readmission") == b"public-1"              # latest visible
    refused(hub, NotFound, hub.download_model, a, "readmission", 2)
    refused(hub, NotFound, hub.download_model, a, "readmission", "2")
    refused(hub, NotFound, hub.download_model, a, "readmission", "prod")    # alias to an invisible version
    # the named reader, the owner and admins see both
    for token in (b, r, admin):
        assert hub.download_model(token, "readmission") == b"members-2"
        assert hub.download_model(token, "readmission", "prod") == b"members-2"
        assert [v["version"] for v in hub.show_model(token, "readmission")["versions"]] == [1, 2]
    assert hub.show_model(r, "readmission")["versions"][1]["visibility"] == "members"
    hub.publish_model(r, "readmission", b"public-3")
    assert hub.download_model(a, "readmission") == b"public-3"
    # a model whose every version is restricted does not show at all
    hub.publish_model(b, "in-house", b"w", visibility="members")
    assert [m["name"] for m in hub.list_models(a)] == ["readmission"]
    refused(hub, NotFound, hub.show_model, a, "in-house")
    refused(hub, NotFound, hub.download_model, a, "in-house")
    assert refusal_count(hub, "model.download") == 4


# -- 4 and 5. every refusal audited; no raw database error; nothing echoed -------------------------

def test_every_refusal_is_audited_once_and_echoes_nothing(hub):
    t = people(hub)
    a, b, r, admin = t["hosp-a"], t["hosp-b"], t["lab-r"], hub.admin_token
    read_only = hub.create_token(a, scopes=["read"])
    long = MARK * 900                                           # 5,400 characters
    public = hub.register_dataset(a, title=f"{MARK} public", schema=SCHEMA)
    hidden = hub.register_dataset(a, title=f"{MARK} hidden", schema=SCHEMA, visibility="members")
    hub.register_dataset(a, title=f"{MARK} other", schema=SCHEMA)
    hub.publish_model(r, "model-r", b"w", aliases=["prod"])
    df = TABLE
    paths = [
        # authentication and scope/role refusals, with long targets
        (AccessDenied, hub.search_datasets, (f"sk_{MARK}",), {}),
        (AccessDenied, hub.search_datasets, ("sk_0000000000000000_" + "A" * 43,), {}),
        (AccessDenied, hub.register_dataset, (read_only,), dict(title=long, schema=SCHEMA)),
        (AccessDenied, hub.lake_put, (r, long, df), {}),
        (AccessDenied, hub.publish_model, (read_only, long, b"x"), {}),
        (AccessDenied, hub.add_member, (a, long, "admin"), {}),
        # long or malformed names
        (IntegrityError, hub.publish_model, (a, long, b"x"), {}),
        (IntegrityError, hub.lake_put, (a, long, df), {}),
        (IntegrityError, hub.lake_get, (a, long), {}),
        (IntegrityError, hub.download_model, (a, long), {}),
        (IntegrityError, hub.show_model, (a, f"{MARK}\x00"), {}),
        (IntegrityError, hub.lake_put, (a, f"{MARK}\ud800", df), {}),
        (IntegrityError, hub.lake_put, (a, f"{MARK}\n", df), {}),
        (IntegrityError, hub.publish_model, (r, "model-r", b"x"), dict(aliases=[MARK * 20])),
        # another member's entries
        (NotFound, hub.update_dataset, (b, hidden), dict(description="hijacked")),
        (AccessDenied, hub.update_dataset, (b, public), dict(description="hijacked")),
        (NotFound, hub.get_dataset, (b, hidden), {}),
        (NotFound, hub.get_dataset, (b, 99999), {}),
        (AccessDenied, hub.publish_model, (a, "model-r", b"x"), {}),
        # members and tokens
        (IntegrityError, hub.add_member, (admin, "m", MARK), {}),
        (IntegrityError, hub.add_member, (admin, "hosp-a", "producer"), {}),
        (IntegrityError, hub.create_token, (admin, "lab-r", ["read", MARK]), {}),
        (IntegrityError, hub.create_token, (admin, "lab-r", "read"), {}),
        (IntegrityError, hub.create_token, (admin, "lab-r", ["read"], 1e12), {}),
        (NotFound, hub.create_token, (admin, MARK, ["read"]), {}),
        (AccessDenied, hub.create_token, (a, "hosp-b", ["read"]), {}),
        (IntegrityError, hub.revoke_token, (a, MARK), {}),
        (NotFound, hub.revoke_token, (a, "0" * 16), {}),
        (AccessDenied, hub.revoke_token, (b, public_id(read_only)), {}),
        (AccessDenied, hub.list_tokens, (b, "hosp-a"), {}),
        (NotFound, hub.list_tokens, (admin, MARK), {}),
        (IntegrityError, hub.audit_log, (admin, "5"), {}),
        # readers, schema, titles, fields
        (NotFound, hub.register_dataset, (a,), dict(title="x", schema=SCHEMA, readers=[MARK])),
        (IntegrityError, hub.register_dataset, (a,), dict(title="x", schema=SCHEMA, readers="hosp-b")),
        (IntegrityError, hub.register_dataset, (a,), dict(title="x", schema=[{"name": MARK}])),
        (IntegrityError, hub.register_dataset, (a,), dict(title=f"{MARK} public", schema=SCHEMA)),
        (IntegrityError, hub.update_dataset, (a, public), dict(title=f"{MARK} other")),
        (IntegrityError, hub.update_dataset, (a, public), dict(**{MARK: 1})),
        (IntegrityError, hub.register_dataset, (a,), dict(title=long, schema=SCHEMA)),
        (IntegrityError, hub.register_dataset, (a,), dict(title="x", schema=SCHEMA, tags=[long])),
        (IntegrityError, hub.register_dataset, (a,), dict(title="x", schema=SCHEMA, location=long)),
        (IntegrityError, hub.register_dataset, (a,), dict(title="x", schema=SCHEMA, run=long)),
        (IntegrityError, hub.register_dataset, (a,), dict(title="x", schema=SCHEMA, lake_object=long)),
        (IntegrityError, hub.register_dataset, (a,), dict(title="x", schema=SCHEMA, description="a\x00b")),
        (IntegrityError, hub.register_dataset, (a,), dict(title="x", schema=SCHEMA,
                                                           anonymization={"loss": math.nan})),
        (IntegrityError, hub.register_dataset, (a,), dict(title="x", schema=SCHEMA, visibility=MARK)),
        (NotFound, hub.register_dataset, (a,), dict(title="x", schema=SCHEMA, derived_from=hidden + 100)),
        # wrongly typed arguments (a raw database error on PostgreSQL before)
        (IntegrityError, hub.get_dataset, (a, str(public)), {}),
        (IntegrityError, hub.get_dataset, (a, 2**40), {}),
        (IntegrityError, hub.update_dataset, (a, str(public)), dict(description="x")),
        (IntegrityError, hub.register_dataset, (a,), dict(title="x", schema=SCHEMA, k="5")),
        (IntegrityError, hub.register_dataset, (a,), dict(title="x", schema=SCHEMA, rows=1.5)),
        (IntegrityError, hub.register_dataset, (a,), dict(title="x", schema=SCHEMA, rows=2**70)),
        (IntegrityError, hub.search_datasets, (a,), dict(min_k="5")),
        (IntegrityError, hub.search_datasets, (a,), dict(min_rows=1.5)),
        (IntegrityError, hub.search_datasets, (a,), dict(limit="5")),
        (IntegrityError, hub.search_datasets, (a, f"{MARK}\x00"), {}),
        (IntegrityError, hub.lake_get, (a, "x"), dict(version="1")),
        (IntegrityError, hub.publish_model, (a, "m2", b"x"), dict(readers="hosp-b")),
        (IntegrityError, hub.publish_model, (a, "m2", b"x"), dict(metrics={"a": {1, 2}})),
        (IntegrityError, hub.publish_model, (a, "m2", b"x"), dict(epsilon=math.inf)),
        (IntegrityError, hub.publish_model, (a, "m2", b"x"), dict(licence=long)),
        (IntegrityError, hub.publish_model, (a, "m2", f"/nonexistent/{MARK}.bin"), {}),
        # the registry and the lake
        (NotFound, hub.download_model, (a, "model-r", MARK), {}),
        (NotFound, hub.download_model, (a, "model-r", 99), {}),
        (NotFound, hub.show_model, (a, MARK), {}),
        (NotFound, hub.lake_get, (a, MARK), {}),
        (AccessDenied, hub.lake_put, (a, "model/model-r", df), {}),
        (AccessDenied, hub.lake_put, (admin, "shared", df), dict(owner="hosp-a")),
        (IntegrityError, hub.lake_put, (a, "x", f"/nonexistent/{MARK}.csv"), {}),
    ]
    for error, fn, args, kwargs in paths:
        refused(hub, error, fn, *args, **kwargs)
    with hub.engine.connect() as c:
        longest = c.execute(sa.text("SELECT max(length(target)), max(length(reason)) FROM audit")).one()
    assert longest[0] <= 300 and longest[1] <= 300
    assert refusal_count(hub) >= len(paths)


def test_title_collision_on_update_names_no_title(hub):
    t = people(hub)
    first = hub.register_dataset(t["hosp-a"], title="Cohort 2024", schema=SCHEMA)
    hub.register_dataset(t["hosp-a"], title="Cohort 2025", schema=SCHEMA)
    err = refused(hub, IntegrityError, hub.update_dataset, t["hosp-a"], first, title="Cohort 2025")
    assert "another dataset of yours has this title" in str(err).lower() and "2025" not in str(err)
    assert hub.get_dataset(t["hosp-a"], first)["title"] == "Cohort 2024"


def test_unreachable_postgres_names_no_password():
    with pytest.raises(HubError) as info:
        Hub("postgresql://member:s3cret-pw@127.0.0.1:1/hub", "memory://lake")
    message = str(info.value)
    assert "s3cret-pw" not in message and "127.0.0.1" not in message and "database" in message
    assert info.value.__cause__ is None and info.value.__suppress_context__
    result = CliRunner().invoke(app, ["hub", "dataset", "list", "--db", "postgresql://member:s3cret-pw@127.0.0.1:1/h",
                                      "--token", "sk_0000000000000000_" + "A" * 43])
    assert result.exit_code == 2 and "s3cret-pw" not in result.output and "Traceback" not in result.output


# -- 6. file modes ------------------------------------------------------------------------------

def test_home_database_and_lake_are_private(tmp_path, monkeypatch):
    monkeypatch.setenv("SECURED_HOME", str(tmp_path / "home" / "secured"))
    for var in ("SECURED_DB_URL", "SECURED_LAKE_URL"):
        monkeypatch.delenv(var, raising=False)
    old = os.umask(0o022)
    try:
        hub, admin = Hub.init()
        hub.lake_put(admin, "synthetic/x", TABLE)
        home = tmp_path / "home" / "secured"
        mode = lambda p: stat.S_IMODE(p.stat().st_mode)                           # noqa: E731
        assert mode(home) == 0o700 and mode(tmp_path / "home") == 0o700
        for name in ("hub.db", "hub.db-wal", "hub.db-shm"):
            assert mode(home / name) == 0o600, name
        lake = home / "lake"
        assert all(mode(p) == 0o700 for p in [lake, *lake.rglob("*")] if p.is_dir())
        assert all(mode(p) == 0o600 for p in lake.rglob("*") if p.is_file())
        hub.engine.dispose()
        # a database left readable by an older version is narrowed when the hub opens it
        os.chmod(home / "hub.db", 0o644)
        again = Hub()
        assert mode(home / "hub.db") == 0o600
        again.engine.dispose()
    finally:
        os.umask(old)


# -- 7. names ----------------------------------------------------------------------------------

def test_names_cannot_be_squatted(hub):
    t = people(hub)
    a, b, r, admin = t["hosp-a"], t["hosp-b"], t["lab-r"], hub.admin_token
    for name in ("model/readmission", "Model/readmission", "MODEL/x"):
        refused(hub, AccessDenied, hub.lake_put, a, name, TABLE)            # the registry's prefix
    assert hub.publish_model(r, "readmission", b"w") == 1
    assert hub.publish_model(r, "readmission", b"w2") == 2
    # an admin's put lands in the admin's namespace; into another member's it is refused
    refused(hub, AccessDenied, hub.lake_put, admin, "shared/table", TABLE, owner="hosp-a")
    hub.lake_put(admin, "shared/table", TABLE)
    assert hub.lake_put(a, "shared/table", TABLE.head(1))["version"] == 1    # hosp-a's own name is still free
    assert hub.lake_put(b, "shared/table", TABLE.head(2))["version"] == 1
    owners = sorted(o["owner"] for o in hub.lake_list(r) if o["name"] == "shared/table")
    assert owners == ["admin", "hosp-a", "hosp-b"]
    assert len(hub.lake_get(r, "shared/table", owner="hosp-b")) == 2


@pytest.mark.parametrize("bad", ["synthetic/x\n", "synthetic/x ", " synthetic/x", "synthetic/x\t", "synthetic\x00x",
                                 "synthetic/x\u00a0", "synthetic/\u200bx", "synthetic  x", "synthe\u0301tic",
                                 "synthetic/x\r", "a" * 201, ""])
def test_look_alike_names_are_refused(hub, bad):
    t = people(hub)
    hub.lake_put(t["hosp-a"], "synthetic/x", TABLE)
    refused(hub, IntegrityError, hub.lake_put, t["hosp-a"], bad, TABLE)
    refused(hub, IntegrityError, hub.publish_model, t["hosp-a"], bad, b"w")
    refused(hub, IntegrityError, hub.add_member, hub.admin_token, bad, "producer")
    refused(hub, IntegrityError, hub.publish_model, t["hosp-a"], "m", b"w", aliases=[bad])


def test_titles_and_tags_are_normalized(hub):
    t = people(hub)
    a = t["hosp-a"]
    hub.register_dataset(a, title="Caf\u00e9 cohort", schema=SCHEMA)
    refused(hub, IntegrityError, hub.register_dataset, a, title="Cafe\u0301 cohort", schema=SCHEMA)   # NFD twin
    for bad in ("Caf\u00e9 cohort\n", "Caf\u00e9 cohort ", "Caf\u00e9\u00a0cohort", "Caf\u00e9  cohort",
                "Caf\u00e9\u200b cohort"):
        refused(hub, IntegrityError, hub.register_dataset, a, title=bad, schema=SCHEMA)
    refused(hub, IntegrityError, hub.register_dataset, a, title="t", schema=SCHEMA, tags=["diabetes "])
    entry = hub.register_dataset(a, title="tagged", schema=SCHEMA, tags=["diab\u0065\u0301te", "diab\u00e9te"])
    assert hub.get_dataset(a, entry)["tags"] == ["diab\u00e9te"]


# -- 8. report -> inventory fields ---------------------------------------------------------------

PROTECT = {"release": {"method": "optimal", "rows_in": 1000, "rows_out": 980, "suppressed": 20, "k": 5,
                       "counted": "people", "l": 2.0, "t": 0.21,
                       "utility": {"loss": 0.12, "precision": 0.8, "discernibility": 12345.0, "other": 1}},
           "assessment": {"risks": {"singling_out_univariate": {"risk": {"value": 0.01, "ci": [0.0, 0.03]},
                                                                 "attack": "singling-out"},
                                    "linkability": {"risk": {"value": 0.02, "ci": [0.01, 0.04]}}},
                          "max_risk_upper": 0.04, "riskiest": "linkability"},
           "passed": True}
ANONYMIZE = {"k": 3, "k_requested": 3, "method": "mondrian", "quasi_identifiers": ["age", "sex"], "suppressed": 4,
             "l": 2, "t": 0.3, "l_variant": "distinct", "utility": {"loss": 0.2, "precision": 0.7},
             "discernibility": 99.0}


def test_inventory_fields_from_reports():
    fields = inventory_fields(PROTECT)
    assert fields["k"] == 5.0 and fields["l"] == 2.0 and fields["t"] == 0.21
    assert fields["anonymization"] == {"method": "optimal", "suppressed": 20, "counted": "people",
                                       "utility": {"loss": 0.12, "precision": 0.8, "discernibility": 12345.0}}
    assert fields["risks"] == {"singling_out_univariate": {"value": 0.01, "ci": [0.0, 0.03]},
                               "linkability": {"value": 0.02, "ci": [0.01, 0.04]}}
    assert fields["max_risk_upper"] == 0.04
    fields = inventory_fields(ANONYMIZE)
    assert fields == {"k": 3.0, "l": 2.0, "t": 0.3,
                      "anonymization": {"method": "mondrian", "k_requested": 3, "quasi_identifiers": ["age", "sex"],
                                        "suppressed": 4, "l_variant": "distinct",
                                        "utility": {"loss": 0.2, "precision": 0.7}}}
    assert inventory_fields({"method": "x"}) == {}
    for bad in ([], {"k": "five"}, {"release": 3}, {"k": math.nan}, {"assessment": {"risks": []}},
                {"assessment": {"risks": {"a": {"risk": {}}}, "max_risk_upper": None}}):
        with pytest.raises(IntegrityError):
            inventory_fields(bad)


def test_cli_registers_a_protect_report(tmp_path, monkeypatch):
    runner = CliRunner()
    monkeypatch.setenv("SECURED_HOME", str(tmp_path / "home"))
    for var in ("SECURED_DB_URL", "SECURED_LAKE_URL"):
        monkeypatch.delenv(var, raising=False)
    result = runner.invoke(app, ["hub", "init"])
    monkeypatch.setenv("SECURED_TOKEN", [x for x in result.output.splitlines() if x.startswith("sk_")][0])
    (tmp_path / "schema.json").write_text(json.dumps(SCHEMA))
    (tmp_path / "report.json").write_text(json.dumps(PROTECT))
    result = runner.invoke(app, ["hub", "dataset", "register", "--title", "protected", "--schema",
                                 str(tmp_path / "schema.json"), "--report", str(tmp_path / "report.json")])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["hub", "dataset", "show", "1"])
    shown = json.loads(result.output)
    assert shown["k"] == 5 and shown["max_risk_upper"] == 0.04 and shown["risks"]["linkability"]["value"] == 0.02


# -- the migration keeps what was there ------------------------------------------------------------

def test_migration_0002_keeps_data_and_visibility(db_url, lake_url):
    from alembic import command
    from alembic.config import Config

    from secured.hub.db import MIGRATIONS, make_engine

    engine = make_engine(db_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as c:
        config.attributes["connection"] = c
        command.upgrade(config, "0001")
    now = datetime.now(timezone.utc)
    with engine.begin() as c:
        run = lambda sql, **kw: c.execute(sa.text(sql), kw)                      # noqa: E731
        run("INSERT INTO members (id, name, role, created_at) VALUES (1, 'admin', 'admin', :t), "
            "(2, 'lab-r', 'researcher', :t), (3, 'hosp-b', 'producer', :t)", t=now)
        run("INSERT INTO models (id, name, owner_id, description, visibility, created_at) VALUES "
            "(1, 'secret', 2, '', 'members', :t), (2, 'open', 2, '', 'all', :t)", t=now)
        run("INSERT INTO model_readers (model_id, member_id) VALUES (1, 3)")
        for vid, model, version in ((1, 1, 1), (2, 1, 2), (3, 2, 1)):
            run("INSERT INTO model_versions (id, model_id, version, lake_object, metrics, lineage, created_at) "
                "VALUES (:i, :m, :v, :d, '{}', '{}', :t)", i=vid, m=model, v=version, d=f"{vid:064x}", t=now)
            name = "model/secret" if model == 1 else "model/open"
            run("INSERT INTO lake_objects (name, version, digest, size, kind, owner_id, created_at) "
                "VALUES (:n, :v, :d, 1, 'artifact', 2, :t)", n=name, v=version, d=f"{vid:064x}", t=now)
        run("INSERT INTO lake_objects (name, version, digest, size, kind, owner_id, created_at) "
            "VALUES ('synthetic/x', 1, :d, 1, 'parquet', 3, :t)", d="f" * 64, t=now)
    engine.dispose()
    hub = Hub(db_url, lake_url)
    with hub.engine.connect() as c:
        versions = c.execute(sa.text("SELECT id, visibility FROM model_versions ORDER BY id")).all()
        readers = c.execute(sa.text("SELECT version_id, member_id FROM model_version_readers ORDER BY 1")).all()
        lake = c.execute(sa.text("SELECT name, version, visibility FROM lake_objects ORDER BY id")).all()
        lake_readers = c.execute(sa.text("SELECT count(*) FROM lake_readers")).scalar()
    assert [tuple(v) for v in versions] == [(1, "members"), (2, "members"), (3, "all")]
    assert [tuple(r) for r in readers] == [(1, 3), (2, 3)]
    assert [tuple(x) for x in lake] == [("model/secret", 1, "members"), ("model/secret", 2, "members"),
                                        ("model/open", 1, "all"), ("synthetic/x", 1, "all")]
    assert lake_readers == 2
    hub.engine.dispose()


# -- the marketplace: a generator published for sampling only ------------------------------------

def test_a_sample_only_generator_gives_rows_never_itself(hub):
    import numpy as np

    from secured.synth import GaussianCopula, dumps, loads

    t = people(hub)
    a, b, r, admin = t["hosp-a"], t["hosp-b"], t["lab-r"], hub.admin_token
    rng = np.random.default_rng(0)
    table = pd.DataFrame({"age": rng.integers(20, 90, 400), "ward": rng.choice(["A", "B", "C"], 400)})
    artifact = dumps(GaussianCopula(seed=0).fit(table))
    hub.publish_model(a, "ward-generator", artifact, access="sample", visibility="members", readers=["lab-r"])
    shown = hub.show_model(r, "ward-generator")["versions"][0]
    assert shown["access"] == "sample"
    rows = hub.sample_model(r, "ward-generator", 250, seed=3)
    assert list(rows.columns) == ["age", "ward"] and len(rows) == 250
    pd.testing.assert_frame_equal(rows, loads(artifact).sample(250, seed=3))    # what the hub ran is the artifact
    assert set(rows["ward"]) <= {"A", "B", "C"}
    # the reader samples but never downloads; the owner and admins may download
    refused(hub, AccessDenied, hub.download_model, r, "ward-generator")
    assert hub.download_model(a, "ward-generator") == artifact
    assert hub.download_model(admin, "ward-generator") == artifact
    # a member who does not see the version can do neither; conditions are checked without echo
    refused(hub, NotFound, hub.sample_model, b, "ward-generator", 10)
    refused(hub, IntegrityError, hub.sample_model, r, "ward-generator", 10, conditions={"ward": MARK})
    refused(hub, IntegrityError, hub.sample_model, r, "ward-generator", 0)
    # only a generator file can be published for sampling; a downloadable model stays downloadable
    refused(hub, IntegrityError, hub.publish_model, a, "weights", b"not a generator", access="sample")
    refused(hub, IntegrityError, hub.publish_model, a, "weights", b"x", access="stream")
    hub.publish_model(a, "weights", b"plain-weights")
    assert hub.download_model(b, "weights") == b"plain-weights"
    refused(hub, IntegrityError, hub.sample_model, b, "weights", 5)
    # the artifact never surfaces through the lake either
    assert all(not o["name"].startswith("model/") for o in hub.lake_list(r))
