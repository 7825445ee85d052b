"""The job runner: takes queued jobs from the hub and runs them (``work.KINDS``).

A runner holds a job by heartbeat (``Hub.job_heartbeat`` every ``heartbeat`` seconds, from a
thread of its own, so a long compiled call does not let the job go stale). When its process
dies the heartbeat stops; after ``stale_after`` seconds any runner takes the job again and runs
it from the start. Only the holder can store the end (``Hub.finish_job``), so a result is
stored once. A cancel asked for by the owner is seen at the next heartbeat and stops the job
at its next progress step. Errors are stored in SECURED's words; an error from inside a library
is stored as its type only (its message may quote a cell value).

The same runner works in a plain thread (``build_app(..., runner=True)``, tests, a single
process) and inside the ``secured-jobs`` Serve deployment (``deploy.py``).
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from typing import Any, Callable, Optional

from ...exceptions import SecuredError

__all__ = ["JobRunner"]

log = logging.getLogger("secured.jobs")


class _Stop(BaseException):
    """Raised inside a job's progress callback to stop it (cancelled, or the hold was lost)."""


class JobRunner:
    """``JobRunner(hub_factory).start()``: runs jobs until ``stop()``; ``run_once()`` runs one."""

    def __init__(self, hub: Any, *, name: Optional[str] = None, poll: float = 0.1, heartbeat: float = 2.0,
                 stale_after: float = 30.0, max_attempts: int = 3) -> None:
        if not heartbeat * 2 < stale_after:
            raise ValueError("stale_after must be more than twice the heartbeat interval.")
        self._hub_source: Callable[[], Any] = hub if callable(hub) and not hasattr(hub, "claim_job") else (lambda: hub)
        self._hub: Any = None
        self.name = name or f"{socket.gethostname()[:30]}:{os.getpid()}:{secrets.token_hex(4)}"
        self.poll, self.heartbeat, self.stale_after, self.max_attempts = poll, heartbeat, stale_after, max_attempts
        self._stopping = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self.current: Optional[str] = None

    @property
    def hub(self) -> Any:
        if self._hub is None:
            self._hub = self._hub_source()
        return self._hub

    @property
    def alive(self) -> bool:
        """The runner's thread is running."""
        return self._thread is not None and self._thread.is_alive()

    # -- the loop -------------------------------------------------------------------------------
    def start(self) -> "JobRunner":
        if self._thread is None or not self._thread.is_alive():
            self._stopping.clear()
            self._thread = threading.Thread(target=self._loop, name=f"secured-jobs-{self.name}", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                ran = self.run_once()
            except Exception:  # noqa: BLE001 - the knowledge base unreachable for a moment: keep polling
                log.warning("job runner %s: could not reach the knowledge base; retrying", self.name)
                ran = False
            if not ran:
                self._stopping.wait(self.poll)

    def run_once(self) -> bool:
        """Take one job and run it to its end; False when there was none."""
        from .work import run_job

        if not self.hub.pending_jobs(self.stale_after):             # a read: no write lock while idle
            return False
        job = self.hub.claim_job(self.name, stale_after=self.stale_after, max_attempts=self.max_attempts)
        if job is None:
            return False
        job_id = job["id"]
        self.current = job_id
        state = {"progress": {"stage": "starting", "attempt": job["attempt"]}, "signal": "ok"}
        done = threading.Event()

        def beat() -> None:
            while not done.wait(self.heartbeat):
                try:
                    signal = self.hub.job_heartbeat(job_id, self.name, state["progress"])
                except Exception:  # noqa: BLE001 - a missed beat; the next one retries
                    continue
                if signal != "ok":
                    state["signal"] = signal

        def progress(stage: str, done_units: Optional[int] = None, total: Optional[int] = None) -> None:
            state["progress"] = {"stage": str(stage)[:200], "done": done_units, "total": total,
                                 "attempt": job["attempt"]}
            if state["signal"] != "ok":
                raise _Stop()

        beater = threading.Thread(target=beat, name=f"heartbeat-{job_id[:8]}", daemon=True)
        beater.start()
        try:
            inputs = {name: self.hub.store.get(digest) for name, digest in job["inputs"].items() if digest}
            result, outputs = run_job(job["kind"], job["params"], inputs, progress)
        except _Stop:
            if state["signal"] == "cancel":
                self.hub.finish_job(job_id, self.name, cancelled=True)
            return True
        except SecuredError as exc:
            self.hub.finish_job(job_id, self.name, error=f"{type(exc).__name__}: {exc}")
            return True
        except Exception as exc:  # noqa: BLE001 - a library's message may quote a cell: keep the type only
            log.error("job %s (%s) failed with %s", job_id, job["kind"], type(exc).__name__)
            self.hub.finish_job(job_id, self.name, error=f"The job failed inside the library ({type(exc).__name__}); "
                                "check the parameters and the input, or report it with the job id.")
            return True
        finally:
            done.set()
            beater.join()
            self.current = None
        if state["signal"] == "cancel":
            self.hub.finish_job(job_id, self.name, cancelled=True)
        elif state["signal"] == "ok":
            from ...io import json_text
            import json

            self.hub.finish_job(job_id, self.name, result=json.loads(json_text(result)), outputs=outputs,
                                progress={"stage": "done", "attempt": job["attempt"]})
        return True
