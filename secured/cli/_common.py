"""Pieces every ``secured`` command shares: the consoles (results on stdout, errors and
progress on stderr), the error wrapper and list options."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.markup import escape

from ..exceptions import SecuredError

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


class RichProgress:
    """The progress protocol (``secured.progress``) rendered on stderr: counted stages as bars,
    status stages as dim lines. Use as a context manager around the work."""

    def __init__(self) -> None:
        from rich.progress import Progress

        self._bars = Progress(console=err_console, transient=True)
        self._tasks: dict[str, int] = {}

    def __enter__(self) -> "RichProgress":
        self._bars.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bars.__exit__(*exc)

    def __call__(self, stage: str, done: int | None = None, total: int | None = None) -> None:
        if done is None:
            self._bars.console.print(f"[dim]{escape(stage)}[/]")
            return
        if stage not in self._tasks:
            self._tasks[stage] = self._bars.add_task(escape(stage), total=total)
        self._bars.update(self._tasks[stage], completed=done, total=total)
