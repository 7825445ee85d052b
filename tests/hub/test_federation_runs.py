"""Federation runs in the knowledge base: one row per (owner, name), updated after every round,
read under the same access rule as every other object; bad input refused and audited once."""

from __future__ import annotations

import pytest

from secured.exceptions import AccessDenied, IntegrityError, NotFound
from tests.hub.test_access_rules import MARK, people, refused


def _record(hub, token, name="readmission-fed", **extra):
    args = {"strategy": "fedavg", "status": "running", "rounds_planned": 5, "rounds_completed": 1,
            "participants": ["h0", "h1"], "records": [{"round": 1, "participants": ["h0", "h1"], "failures": []}],
            "visibility": "members", "readers": ["lab-r"]}
    args.update(extra)
    return hub.record_federation_run(token, name, **args)


def test_runs_are_updated_in_place_and_read_under_the_access_rule(hub):
    t = people(hub)
    a, b, r, admin = t["hosp-a"], t["hosp-b"], t["lab-r"], hub.admin_token
    first = _record(hub, a)
    again = _record(hub, a, status="completed", rounds_completed=5, epsilon=2.5, delta=1e-5,
                    records=[{"round": k, "participants": ["h0"], "failures": []} for k in range(1, 6)])
    assert first == again
    run = hub.show_federation_run(r, "readmission-fed")
    assert run["status"] == "completed" and run["epsilon"] == 2.5 and len(run["records"]) == 5
    assert hub.show_federation_run(admin, "readmission-fed")["owner"] == "hosp-a"
    refused(hub, NotFound, hub.show_federation_run, b, "readmission-fed")
    assert [x["name"] for x in hub.list_federation_runs(b)] == []
    assert [x["name"] for x in hub.list_federation_runs(r)] == ["readmission-fed"]
    # another member's run of the same name is its own row; it cannot overwrite hosp-a's
    _record(hub, b, visibility="all", readers=[])
    assert hub.show_federation_run(a, "readmission-fed")["owner"] == "hosp-a"
    assert hub.show_federation_run(r, "readmission-fed", owner="hosp-b")["owner"] == "hosp-b"
    refused(hub, NotFound, hub.show_federation_run, r, "readmission-fed")     # two visible: owner= needed
    assert hub.show_federation_run(a, "readmission-fed")["rounds_completed"] == 5


@pytest.mark.parametrize("extra", [{"status": MARK}, {"rounds_completed": 9}, {"records": {"x": 1}},
                                   {"epsilon": -1.0}, {"visibility": MARK}, {"participants": MARK}])
def test_bad_runs_are_refused(hub, extra):
    t = people(hub)
    refused(hub, IntegrityError, _record, hub, t["hosp-a"], **extra)


def test_read_only_tokens_cannot_record(hub):
    t = people(hub)
    read_only = hub.create_token(hub.admin_token, "hosp-a", ["read"])
    refused(hub, AccessDenied, _record, hub, read_only)


def test_cli_shows_runs_under_the_same_rule(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from secured.cli.main import app
    from secured.hub import Hub

    monkeypatch.setenv("SECURED_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SECURED_DB_URL", raising=False)
    hub, admin = Hub.init()
    t = people(type("H", (), {"admin_token": admin, "add_member": hub.add_member, "create_token": hub.create_token})())
    _record(hub, t["hosp-a"])
    runner = CliRunner()
    res = runner.invoke(app, ["hub", "run", "show", "readmission-fed", "--token", t["lab-r"]])
    assert res.exit_code == 0 and "fedavg" in res.output
    res = runner.invoke(app, ["hub", "run", "show", "readmission-fed", "--token", t["hosp-b"]])
    assert res.exit_code == 2 and "No visible run" in res.output
    res = runner.invoke(app, ["hub", "run", "list", "--token", t["hosp-b"]])
    assert res.exit_code == 0 and "readmission-fed" not in res.output
    hub.engine.dispose()
