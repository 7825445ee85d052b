"""The hub's knowledge base: members and tokens, dataset inventory, synthetic-data lake and
model registry (SQLite by default, PostgreSQL with SECURED_DB_URL). See ``core.Hub``."""

from .core import Hub, Principal, describe_table

__all__ = ["Hub", "Principal", "describe_table"]
