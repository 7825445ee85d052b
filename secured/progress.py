"""One progress protocol for every long piece of work (fits, searches, attacks, the protect
loop, jobs).

A progress callback is any callable ``progress(stage, done=None, total=None)``: ``stage`` names
what is happening ("lattice nodes", "k=5 mondrian: attacking"); ``done`` and ``total`` count
units of that stage when it has them. Stages without counts are status lines. Work that
accepts ``progress=None`` stays silent. The CLI renders events with rich; a job or a server
keeps them with ``ProgressLog``. Stage texts carry settings and counts, never data values.

>>> log = ProgressLog()
>>> log("rows partitioned", 50, 100)
>>> log.events[-1].stage, log.events[-1].fraction
('rows partitioned', 0.5)
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Protocol

__all__ = ["Progress", "ProgressEvent", "ProgressLog", "RichProgress", "emit", "stage_counter"]


class Progress(Protocol):
    """A progress callback: ``progress(stage, done=None, total=None)``."""
    def __call__(self, stage: str, done: Optional[int] = None, total: Optional[int] = None) -> None: ...


@dataclass(frozen=True)
class ProgressEvent:
    """One progress call, timestamped."""
    stage: str
    done: Optional[int] = None
    total: Optional[int] = None
    time: float = field(default_factory=time.time)

    @property
    def fraction(self) -> Optional[float]:
        if self.done is None or not self.total:
            return None
        return min(self.done / self.total, 1.0)

    def to_dict(self) -> dict:
        return {"stage": self.stage, "done": self.done, "total": self.total, "time": self.time}


class ProgressLog:
    """A progress callback that keeps the events (thread-safe); ``latest`` per stage too."""

    def __init__(self, limit: int = 10_000) -> None:
        self.events: list[ProgressEvent] = []
        self.latest: dict[str, ProgressEvent] = {}
        self._limit = limit
        self._lock = threading.Lock()

    def __call__(self, stage: str, done: Optional[int] = None, total: Optional[int] = None) -> None:
        event = ProgressEvent(stage, done, total)
        with self._lock:
            self.latest[stage] = event
            self.events.append(event)
            if len(self.events) > self._limit:
                del self.events[: len(self.events) - self._limit]


def emit(progress: Optional[Progress], stage: str, done: Optional[int] = None, total: Optional[int] = None) -> None:
    """Call ``progress`` if there is one."""
    if progress is not None:
        progress(stage, done, total)


def stage_counter(progress: Optional[Progress], stage: str) -> Optional[Callable[[int, int], None]]:
    """A ``(done, total)`` callback feeding ``stage`` of ``progress`` (None when silent)."""
    if progress is None:
        return None
    return lambda done, total: progress(stage, done, total)


class RichProgress:
    """The protocol rendered with rich (on stderr by default): counted stages as bars, status
    stages as dim lines. Use as a context manager around the work."""

    def __init__(self, console: Any = None) -> None:
        from rich.console import Console
        from rich.progress import Progress as Bars

        self._bars = Bars(console=console or Console(stderr=True), transient=True)
        self._tasks: dict[str, Any] = {}

    def __enter__(self) -> "RichProgress":
        self._bars.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._bars.__exit__(*exc)

    def __call__(self, stage: str, done: Optional[int] = None, total: Optional[int] = None) -> None:
        from rich.markup import escape

        if done is None:
            self._bars.console.print(f"[dim]{escape(stage)}[/]")
            return
        if stage not in self._tasks:
            self._tasks[stage] = self._bars.add_task(escape(stage), total=total)
        self._bars.update(self._tasks[stage], completed=done, total=total)
