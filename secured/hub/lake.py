"""Content-addressed object store of the datalake on any pyarrow filesystem.

Objects are stored under ``objects/<first two hex digits>/<sha256>`` of their bytes, written
to a temporary name and moved into place (a reader never sees half an object; the same bytes
are stored once). Reads recompute the SHA-256 and refuse a mismatch. Where: ``SECURED_LAKE_URL``
(``file:///...``, ``s3://...``, ``gs://...``, any URI pyarrow understands) or
``$SECURED_HOME/lake``.

On the local filesystem the store is private: the folders it creates are 0700 and objects
are written by ``secured.io.write_bytes`` (0600, fsync, atomic rename). Elsewhere access is the
bucket's (set it there). This module stores bytes only; who may read which object is decided
by ``core.Hub`` from the catalogue in the database.
"""

from __future__ import annotations

import hashlib
import io
import os
import secrets
from pathlib import Path

import pyarrow.fs as pafs

from ..exceptions import ConfigurationError, IntegrityError, NotFound
from ..io import write_bytes
from .db import home, private_dir

__all__ = ["ObjectStore", "digest_of"]


def digest_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class ObjectStore:
    def __init__(self, url: str | None = None) -> None:
        url = url or os.environ.get("SECURED_LAKE_URL") or (home() / "lake").as_uri()
        try:
            self.fs, self.root = pafs.FileSystem.from_uri(url)
        except Exception:  # noqa: BLE001 - pyarrow raises several types for a bad URI
            raise ConfigurationError("SECURED_LAKE_URL (or --lake) is not a filesystem URI pyarrow can open, "
                                     "e.g. file:///data/lake or s3://bucket/lake.") from None
        self.url = url
        self.local = isinstance(self.fs, pafs.LocalFileSystem)
        try:
            if self.local:
                private_dir(Path(self.root) / "objects")
            else:
                self.fs.create_dir(f"{self.root}/objects", recursive=True)
        except OSError:
            raise ConfigurationError("The lake folder could not be created; check SECURED_LAKE_URL (or --lake) "
                                     "and that its folder is writable.") from None

    def _path(self, digest: str) -> str:
        return f"{self.root}/objects/{digest[:2]}/{digest}"

    def put(self, data: bytes) -> str:
        """Store ``data``; returns its SHA-256 (the object's address)."""
        digest = digest_of(data)
        path = self._path(digest)
        if self.fs.get_file_info(path).type == pafs.FileType.File:
            return digest
        if self.local:
            private_dir(Path(path).parent)
            write_bytes(data, path)              # 0600, fsync, atomic rename, folder synced
            return digest
        self.fs.create_dir(str(Path(path).parent), recursive=True)
        tmp = f"{path}.{secrets.token_hex(8)}.tmp"
        with self.fs.open_output_stream(tmp) as out:
            out.write(data)
        self.fs.move(tmp, path)
        return digest

    def get(self, digest: str) -> bytes:
        """The object's bytes, after checking they still hash to ``digest``."""
        path = self._path(digest)
        if self.fs.get_file_info(path).type != pafs.FileType.File:
            raise NotFound("The lake object is missing from the store; restore it from a backup.")
        with self.fs.open_input_stream(path) as src:
            data = src.read()
        if digest_of(data) != digest:
            raise IntegrityError("A lake object failed its checksum (the stored bytes changed); it was not "
                                 "returned. Restore it from a backup.")
        return data

    def delete(self, digest: str) -> None:
        """Remove an object (no error when it is already gone); the caller checks that nothing
        in the catalogue still refers to it."""
        try:
            self.fs.delete_file(self._path(digest))
        except (FileNotFoundError, OSError):
            pass

    @staticmethod
    def parquet_bytes(df) -> bytes:
        buffer = io.BytesIO()
        df.to_parquet(buffer, index=False)
        return buffer.getvalue()
