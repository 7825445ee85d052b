"""The hub's knowledge base: members and tokens, dataset inventory, synthetic-data lake and
model registry (SQLite by default, PostgreSQL with SECURED_DB_URL). See ``core.Hub`` for the
access rules (tokens, visibility, names, audit) and ``inventory.inventory_fields`` for the
fields recorded from an anonymize or protect report."""

from .core import Hub, Principal, describe_table
from .inventory import bias_fields, inventory_fields, synthetic_fields

__all__ = ["Hub", "Principal", "describe_table", "inventory_fields", "synthetic_fields", "bias_fields"]
