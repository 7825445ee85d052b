"""Party-side handling of a party's own table: loading it, aligning rows with the other
parties on a shared id (vertical partitions), and turning columns into private arrays.

Nothing here leaves the party except, for alignment, keyed hashes of its ids: every party
sends HMAC-SHA256(alignment key, id) (first 8 bytes) to the others; party 0 draws the key
and sends it to the other parties, so the driver never sees it. Each party learns which of its ids the others also hold
(the usual price of id alignment). The common rows are then ordered by id (ids must have the
same type at every party), so all parties agree and a run is reproducible.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from typing import Any

import numpy as np

from ..exceptions import ConfigurationError

__all__ = ["read_table", "op_load_table", "op_align", "op_columns"]


def read_table(source: Any):
    """A pandas DataFrame from a callable, a DataFrame, or a .csv / .parquet path."""
    import pandas as pd

    value = source() if callable(source) else source
    if isinstance(value, pd.DataFrame):
        return value.reset_index(drop=True)
    if isinstance(value, (str, Path)):
        from ..io import read_table as read_file

        table = read_file(value)   # one reader for the project: clear errors, no cell in a message
        for c in table.columns:    # CSV cells are text: columns that hold numbers become numbers
            if table[c].dtype == object or str(table[c].dtype).startswith("str"):
                numbers = pd.to_numeric(table[c], errors="coerce")
                if numbers.notna().sum() == table[c].notna().sum():
                    table[c] = numbers
        return table
    if isinstance(value, np.ndarray):
        return pd.DataFrame(value, columns=[f"x{i}" for i in range(value.shape[1])])
    raise ConfigurationError(f"A party source must be a path, a DataFrame or a callable; got {type(value).__name__}.")


def op_load_table(ctx, name: str, source: Any) -> tuple[int, list[str]]:
    """Store the party's table; return its row count and column names (metadata only)."""
    if source is None:
        return None
    table = read_table(source)
    ctx.private[name] = table
    return (len(table), [str(c) for c in table.columns])


def _hash_ids(key: bytes, ids: Any) -> np.ndarray:
    return np.array([int.from_bytes(hmac.new(key, str(v).encode(), hashlib.sha256).digest()[:8], "little")
                     for v in ids], dtype=np.uint64)


def op_align(ctx, name: str, id_column: str) -> int:
    """Keep the rows whose id every party holds, ordered by id. Two rounds."""
    from ..backend import new_key

    if ctx.rank == 0:
        key = new_key()
        for dst in range(1, ctx.n_parties):
            ctx.comm.send_one(dst, [np.frombuffer(key, dtype=np.uint8)])
    else:
        key = bytes(np.asarray(ctx.comm.recv_one(0)[0], dtype=np.uint8))
    table = ctx.private[name]
    if id_column not in table.columns:
        raise ConfigurationError(f"Party {ctx.rank}'s table has no id column {id_column!r}.")
    if table[id_column].duplicated().any():
        raise ConfigurationError(f"Party {ctx.rank}'s id column {id_column!r} has duplicate ids.")
    hashes = _hash_ids(key, table[id_column].to_numpy())
    gathered = ctx.comm.exchange([hashes])
    common = gathered[0][0]
    for other in gathered[1:]:
        common = np.intersect1d(common, other[0])
    kept = table[np.isin(hashes, common)]
    ctx.private[name] = kept.sort_values(id_column, kind="stable").reset_index(drop=True)
    return len(kept)


def op_columns(ctx, name: str, out: str, columns: list[str] | None, exclude: list[str]) -> tuple[int, int]:
    """Private float array ``out`` from the table's columns (all but ``exclude`` when None).
    A party given no table name (``name=None``) has no part in this call."""
    if name is None:
        return None
    table = ctx.private[name]
    cols = [c for c in table.columns if c not in exclude] if columns is None else list(columns)
    missing = [c for c in cols if c not in table.columns]
    if missing:
        raise ConfigurationError(f"Party {ctx.rank}'s table lacks column(s) {', '.join(map(str, missing))}.")
    try:
        values = table[cols].to_numpy(dtype=np.float64)
    except (TypeError, ValueError):
        raise ConfigurationError(
            f"Party {ctx.rank}: columns must be numeric (encode categories first).") from None
    if values.ndim == 1:
        values = values[:, None]
    if not np.all(np.isfinite(values)):
        raise ConfigurationError(f"Party {ctx.rank}: NaN or infinite values in the selected columns.")
    ctx.private[out] = values
    return tuple(values.shape)
