"""Reading and writing the project's files: one table reader, one atomic writer.

Tables are CSV or Parquet, chosen by the file's extension.

- ``read_table(path)``: CSV cells are read as text, and an empty cell is a missing value (NaN)
  while "NA", "null" and the like stay codes (they are real categories in health data);
  Parquet keeps its types and its nulls. Every failure (no file, a folder, an empty or
  binary file, a file that is not Parquet, a ragged CSV) is a ``BadInputError`` that names
  the file and never quotes its content.
- ``atomic_write(path)``: a context manager giving a temporary path next to ``path``; on a
  clean exit the file is flushed to disk (fsync), renamed over ``path`` and the folder synced,
  so a reader sees the old file or the new one, never a part; on any exception (Ctrl-C
  included) the temporary file is removed. ``write_table``, ``write_json`` and
  ``write_bytes`` are built on it. Files are created readable by their owner only (0600).
- ``check_output(path, kinds)``: refuses an output path before any work is done (a folder, a
  missing or unwritable parent, an unknown extension, the same file as an input).
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator, Sequence

import pandas as pd

from .exceptions import BadInputError

__all__ = ["TABLE_SUFFIXES", "read_table", "read_table_bytes", "json_text", "write_table", "write_json",
           "write_bytes", "atomic_write",
           "check_output", "file_sha256", "read_json"]

TABLE_SUFFIXES = (".csv", ".parquet")


def _suffix(path: Path, kinds: Sequence[str]) -> str:
    suffix = path.suffix.lower()
    if suffix not in kinds:
        raise BadInputError(f"Unsupported file type {suffix or '(none)'!r} for {path.name}; use "
                            f"{' or '.join(kinds)}.")
    return suffix


def read_table(path: str | Path) -> pd.DataFrame:
    """A CSV or Parquet table (see the module docstring for the missing-value rule)."""
    path = Path(path)
    if path.is_dir():
        raise BadInputError(f"{path} is a folder; give a .csv or .parquet file.")
    if not path.is_file():
        raise BadInputError(f"No input file at {path}.")
    suffix = _suffix(path, TABLE_SUFFIXES)
    if path.stat().st_size == 0:
        raise BadInputError(f"{path.name} is empty (0 bytes).")
    return _parse(path, path.name, suffix)


def read_table_bytes(data: bytes, name: str = "upload") -> pd.DataFrame:
    """A table from the bytes of an uploaded file, by the same rules as ``read_table``: Parquet
    when the name ends in .parquet or the bytes start with Parquet's magic, CSV when it ends in
    .csv (or .txt/.tsv); anything else is refused."""
    if not isinstance(data, (bytes, bytearray)) or len(data) == 0:
        raise BadInputError("The uploaded file is empty (0 bytes).")
    lower = (name or "").lower()
    label = "The uploaded file"
    if lower.endswith(".parquet") or bytes(data[:4]) == b"PAR1":
        return _parse(io.BytesIO(data), label, ".parquet")
    if lower.endswith((".csv", ".tsv", ".txt")):
        return _parse(io.BytesIO(data), label, ".csv")
    raise BadInputError("Upload a .csv or .parquet file (the file name's extension tells which).")


def _parse(source: Any, label: str, suffix: str) -> pd.DataFrame:
    if suffix == ".parquet":
        try:
            return pd.read_parquet(source)
        except Exception:  # noqa: BLE001 - pyarrow's messages may quote file content
            raise BadInputError(f"{label} is not a readable Parquet file.") from None
    try:
        if isinstance(source, io.BytesIO):
            raw = source.getvalue()
            if b"\x00" in raw[:65536]:
                raise UnicodeDecodeError("utf-8", b"", 0, 1, "NUL byte")
            sample = raw[:65536].decode("utf-8", errors="ignore")
            raw.decode("utf-8")
            text: Any = io.StringIO(raw.decode("utf-8"), newline="")
        else:
            with open(source, newline="", encoding="utf-8") as f:
                sample = f.read(65536)
            if "\x00" in sample:
                raise UnicodeDecodeError("utf-8", b"", 0, 1, "NUL byte")
            text = source
        try:
            sep = csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
        except csv.Error:
            sep = ","
        df = pd.read_csv(text, dtype=str, keep_default_na=False, na_values=[""], sep=sep)
    except UnicodeDecodeError:
        raise BadInputError(f"{label} is not a UTF-8 text CSV file (binary content?).") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError, csv.Error):
        raise BadInputError(f"{label} could not be read as CSV (ragged rows or no header row?).") from None
    if df.columns.duplicated().any():
        raise BadInputError(f"{label} has repeated column names; each column needs its own name.")
    return df


def check_output(path: str | Path, kinds: Sequence[str] | None = TABLE_SUFFIXES, *,
                 inputs: Sequence[str | Path] = (), what: str = "output") -> Path:
    """``path`` as a Path once it is known to be writable: not a folder, its parent a writable
    folder, an accepted extension, and not one of ``inputs`` (never overwrite the source data)."""
    path = Path(path)
    if path.is_dir():
        raise BadInputError(f"The {what} path {path} is a folder; give a file name.")
    if kinds is not None:
        _suffix(path, kinds)
    parent = path.parent if str(path.parent) else Path(".")
    if parent.exists() and not parent.is_dir():
        raise BadInputError(f"The {what} path {path}: {parent} is not a folder.")
    probe = parent
    while not probe.exists():
        probe = probe.parent
    if not os.access(probe, os.W_OK | os.X_OK):
        raise BadInputError(f"The {what} folder {parent} is not writable.")
    for source in inputs:
        if source is not None and Path(source).exists() and path.exists() and os.path.samefile(source, path):
            raise BadInputError(f"The {what} path {path} is an input file; write the result to another file.")
    return path


@contextlib.contextmanager
def atomic_write(path: str | Path) -> Iterator[Path]:
    """A temporary file next to ``path``; renamed over it (after fsync) on a clean exit,
    removed on any exception."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, target)
        _sync_folder(target.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _sync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without folder descriptors
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def write_table(df: pd.DataFrame, path: str | Path) -> None:
    """CSV or Parquet by extension, atomically."""
    suffix = _suffix(Path(path), TABLE_SUFFIXES)
    with atomic_write(path) as tmp:
        if suffix == ".csv":
            df.to_csv(tmp, index=False)
        else:
            df.to_parquet(tmp, index=False)


def write_bytes(data: bytes | str, path: str | Path) -> None:
    with atomic_write(path) as tmp:
        tmp.write_bytes(data.encode() if isinstance(data, str) else data)


def write_json(obj: Any, path: str | Path) -> None:
    write_bytes(json_text(obj), path)


def json_text(obj: Any) -> str:
    """``obj`` (a report: numpy numbers and arrays, objects with ``to_dict`` allowed) as JSON
    text, NaN refused; the one conversion used for files, the hub and HTTP."""
    return json.dumps(obj, indent=2, allow_nan=False, default=_jsonable)


def read_json(path: str | Path, what: str = "JSON file") -> Any:
    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"No {what} at {path}.")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise BadInputError(f"The {what} {path.name} is not valid JSON.") from None


def _jsonable(value: Any) -> Any:
    import numpy as np

    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if hasattr(value, "to_dict"):
        return value.to_dict()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
