"""Every hub test runs on SQLite and on PostgreSQL. PostgreSQL comes from SECURED_TEST_PG_URL
(default: the local server, trust auth); without one those cases skip and say how to run them."""

from __future__ import annotations

import os
import secrets

import pytest
import sqlalchemy as sa

PG_ADMIN = os.environ.get("SECURED_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
_pg_db: dict[str, str] = {}


def _pg_database() -> str | None:
    """A database of our own on the server (created once per run), or None."""
    if "url" in _pg_db:
        return _pg_db["url"] or None
    try:
        engine = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
        name = f"secured_test_{secrets.token_hex(4)}"
        with engine.connect() as c:
            c.exec_driver_sql(f"CREATE DATABASE {name}")
        engine.dispose()
        _pg_db["url"] = sa.engine.make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)
        _pg_db["name"] = name
    except Exception:  # noqa: BLE001 - any failure means: no PostgreSQL here
        _pg_db["url"] = ""
    return _pg_db["url"] or None


def pytest_sessionfinish(session, exitstatus):
    if _pg_db.get("name"):
        try:
            engine = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
            with engine.connect() as c:
                c.exec_driver_sql(f"DROP DATABASE IF EXISTS {_pg_db['name']} WITH (FORCE)")
            engine.dispose()
        except Exception:  # noqa: BLE001
            pass


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'hub.db'}"
        return
    url = _pg_database()
    if url is None:
        pytest.skip("PostgreSQL not reachable: start it (pg_ctlcluster --skip-systemctl-redirect "
                    "$(ls /etc/postgresql) main start) or set SECURED_TEST_PG_URL")
    engine = sa.create_engine(url)
    with engine.begin() as c:
        c.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    engine.dispose()
    yield url


@pytest.fixture
def lake_url(tmp_path):
    return (tmp_path / "lake").as_uri()


@pytest.fixture
def hub(db_url, lake_url):
    from secured.hub import Hub

    hub, admin = Hub.init(db_url, lake_url)
    hub.admin_token = admin
    yield hub
    hub.engine.dispose()
