"""Alembic environment: runs on the connection handed in by ``secured.hub.db.upgrade``."""

from alembic import context

from secured.hub.schema import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - the hub always passes its connection
    raise RuntimeError("Run migrations through secured.hub.db.upgrade (or `secured hub init`).")
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
