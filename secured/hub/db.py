"""Engines for the knowledge base: a SQLite file by default, PostgreSQL when asked.

- Where: ``SECURED_DB_URL`` (any SQLAlchemy URL; ``postgresql://`` uses psycopg 3), else
  ``sqlite:///$SECURED_HOME/hub.db`` with ``SECURED_HOME`` defaulting to the user's data
  folder (``$XDG_DATA_HOME/secured`` or ``~/.local/share/secured``).
- SQLite runs in WAL mode with ``synchronous=FULL`` (a committed registration survives a
  killed process and a power cut) and a 60 s busy timeout; every transaction starts with
  ``BEGIN IMMEDIATE`` so concurrent writers queue for the write lock instead of failing
  half-way with 'database is locked' when a read transaction tries to upgrade.
- The schema is created and upgraded by Alembic (``upgrade``); the migration scripts ship in
  ``secured/hub/migrations``.
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url

from ..exceptions import ConfigurationError

__all__ = ["home", "database_url", "make_engine", "upgrade", "MIGRATIONS"]

MIGRATIONS = Path(__file__).with_name("migrations")


def home() -> Path:
    """SECURED's data folder (created on demand)."""
    base = os.environ.get("SECURED_HOME")
    if base:
        path = Path(base)
    else:
        xdg = os.environ.get("XDG_DATA_HOME")
        path = Path(xdg) / "secured" if xdg else Path.home() / ".local" / "share" / "secured"
    path.mkdir(parents=True, exist_ok=True)
    return path


def database_url(url: str | None = None) -> str:
    url = url or os.environ.get("SECURED_DB_URL") or f"sqlite:///{home() / 'hub.db'}"
    try:
        parsed = make_url(url)
    except Exception:  # noqa: BLE001 - any parse failure is a configuration error
        raise ConfigurationError("SECURED_DB_URL (or --db) is not a database URL, e.g. "
                                 "sqlite:///path/hub.db or postgresql://user@host/db.") from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ConfigurationError("The knowledge base runs on SQLite or PostgreSQL; got another database URL.")
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str | None = None) -> Engine:
    url = database_url(url)
    if url.startswith("sqlite"):
        path = make_url(url).database
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 60, "isolation_level": None})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection, _record) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=60000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(connection) -> None:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True)


def upgrade(engine: Engine) -> None:
    """Create or upgrade the schema to the newest migration."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
