"""Pieces every ``secured`` command shares: the console, the error wrapper, list options and
atomic file writes."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from ..exceptions import SecuredError

console = Console()


def exit_with(fn, *args: object) -> None:
    """Run a command body; a SecuredError becomes a one-line message and exit code 2."""
    try:
        code = fn(*args)
    except SecuredError as exc:
        console.print(f"[red]error:[/] {escape(str(exc))}")
        raise typer.Exit(2) from None
    raise typer.Exit(code or 0)


def columns(text: str) -> list[str]:
    """A comma-separated option as a list, blanks dropped."""
    return [c.strip() for c in text.split(",") if c.strip()]


def write_atomic(data: bytes | str, path: str | Path) -> None:
    """Write into a temporary file next to ``path``, then rename: never a partial file."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
