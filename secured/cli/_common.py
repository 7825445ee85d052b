"""Pieces every ``secured`` command shares: the consoles (results on stdout, errors and
progress on stderr), the error wrapper and list options."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.markup import escape

from ..exceptions import SecuredError
from ..progress import RichProgress as _RichProgress

console = Console()
err_console = Console(stderr=True)


def exit_with(fn, *args: object) -> None:
    """Run a command body; a SecuredError becomes a one-line message and exit code 2."""
    try:
        code = fn(*args)
    except SecuredError as exc:
        err_console.print(f"[red]error:[/] {escape(str(exc))}")
        raise typer.Exit(2) from None
    raise typer.Exit(code or 0)


def columns(text: str) -> list[str]:
    """A comma-separated option as a list, blanks dropped."""
    return [c.strip() for c in text.split(",") if c.strip()]


class RichProgress(_RichProgress):
    """``secured.progress.RichProgress`` on the CLI's error console (stderr)."""

    def __init__(self) -> None:
        super().__init__(err_console)
