"""Engines for the knowledge base: a SQLite file by default, PostgreSQL when asked.

- Where: ``SECURED_DB_URL`` (any SQLAlchemy URL; ``postgresql://`` uses psycopg 3), else
  ``sqlite:///$SECURED_HOME/hub.db`` with ``SECURED_HOME`` defaulting to the user's data
  folder (``$XDG_DATA_HOME/secured`` or ``~/.local/share/secured``).
- Files are private on the local filesystem: SECURED_HOME and every folder the hub creates
  are made 0700; the SQLite database file is created 0600 before SQLite opens it (SQLite gives
  its ``-wal`` and ``-shm`` companions the database file's mode) and an existing database or
  companion readable by others is narrowed to 0600 when the hub opens it. An existing folder
  named by the user is left as it is.
- SQLite runs in WAL mode with ``synchronous=FULL`` (a committed registration survives a
  killed process and a power cut) and a 60 s busy timeout; every transaction starts with
  ``BEGIN IMMEDIATE`` so concurrent writers queue for the write lock instead of failing
  half-way with 'database is locked' when a read transaction tries to upgrade; transactions
  that only read (the token check) use a plain ``BEGIN`` and never write.
- PostgreSQL connections time out after 10 s. A database that cannot be reached or opened is
  a :class:`HubError` whose message names neither the URL nor its password (see
  ``unreachable``); the driver's own error is not chained.
- The schema is created and upgraded by Alembic (``upgrade``); the migration scripts ship in
  ``secured/hub/migrations``.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url

from ..exceptions import ConfigurationError, HubError

__all__ = ["home", "database_url", "make_engine", "upgrade", "private_dir", "private_file", "unreachable",
           "MIGRATIONS"]

MIGRATIONS = Path(__file__).with_name("migrations")


def private_dir(path: Path) -> Path:
    """``path`` as a folder; the folders this call creates (parents included) are 0700."""
    missing = []
    probe = path
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=0o700)
        except FileExistsError:
            continue
        os.chmod(folder, 0o700)        # mkdir's mode is narrowed by the umask, never widened: set it
    return path


def private_file(path: Path) -> None:
    """Narrow an existing file of ours to 0600 when group or others may read it."""
    try:
        info = path.stat()
        if info.st_uid == os.getuid() and stat.S_IMODE(info.st_mode) & 0o077:
            os.chmod(path, 0o600)
    except OSError:
        pass


def unreachable() -> HubError:
    """The error for a database that cannot be reached or opened (no URL, no password in it)."""
    error = HubError("Could not reach or open the knowledge base database: check that the server is running and "
                     "that SECURED_DB_URL (or --db) names the right host, port, user, password and database "
                     "(or, for SQLite, a writable file).")
    error._audited = True      # not a refusal: nothing to audit (and the audit may be what is unreachable)
    return error


def home() -> Path:
    """SECURED's data folder (created on demand, 0700)."""
    base = os.environ.get("SECURED_HOME")
    if base:
        path = Path(base)
    else:
        xdg = os.environ.get("XDG_DATA_HOME")
        path = Path(xdg) / "secured" if xdg else Path.home() / ".local" / "share" / "secured"
    return private_dir(path)


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


def _sqlite_file(path: str) -> Path | None:
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    db = Path(path)
    private_dir(db.parent)
    try:
        # Created empty (never truncated: O_CREAT without O_TRUNC) so that SQLite opens a file
        # that is already 0600 and gives its -wal and -shm companions the same mode.
        os.close(os.open(db, os.O_CREAT | os.O_RDWR, 0o600))
    except OSError:
        raise unreachable() from None
    private_file(db)
    return db


def make_engine(url: str | None = None) -> Engine:
    url = database_url(url)
    if url.startswith("sqlite"):
        db = _sqlite_file(make_url(url).database or "")
        engine = create_engine(url, connect_args={"timeout": 60, "isolation_level": None})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection, _record) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=60000")
            cursor.close()
            if db is not None:
                for companion in ("-wal", "-shm"):
                    private_file(db.with_name(db.name + companion))

        @event.listens_for(engine, "begin")
        def _begin(connection) -> None:
            # Read-only transactions (``execution_options(secured_readonly=True)``) take no write
            # lock, so a token check does not queue behind writers.
            readonly = connection.get_execution_options().get("secured_readonly", False)
            connection.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 10})


def upgrade(engine: Engine) -> None:
    """Create or upgrade the schema to the newest migration."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
