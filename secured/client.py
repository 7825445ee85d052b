"""A Python client of the hub's HTTP service, with the verbs of the CLI.

>>> from secured.client import Client
>>> hub = Client("http://127.0.0.1:8000", token="sk_...")          # doctest: +SKIP
>>> job = hub.anonymize(df, quasi_identifiers=["age", "sex"], k=5)  # doctest: +SKIP
>>> release = job.table("release"); job.result["k"]                 # doctest: +SKIP

Long work (anonymize, protect, assess, synth fit/evaluate, bias mitigate, aggregate) runs as
a job on the server: a verb submits it and, unless ``wait=False``, waits for it (long polls,
progress to an optional callback) and returns the ``Job``; a failed or cancelled job raises
``JobFailed``. Tables go up as Parquet (a DataFrame) or as the file given (a path). Errors
come back as SECURED's exceptions (``AccessDenied`` for 401/403, ``NotFound``,
``StateConflict``, ``BadInputError``, ``ConfigurationError``) with the server's message.
The token defaults to ``SECURED_TOKEN``.
"""

from __future__ import annotations

import io
import json
import os
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence

import pandas as pd

from .exceptions import (AccessDenied, BadInputError, ConfigurationError, HubError, NotFound, SecuredError,
                         StateConflict)

__all__ = ["Client", "Job", "JobFailed"]

_ERRORS = {401: AccessDenied, 403: AccessDenied, 404: NotFound, 409: StateConflict, 413: BadInputError,
           400: BadInputError, 422: ConfigurationError}
Table = Any     # a DataFrame, a path to a .csv/.parquet file, or bytes of one


class JobFailed(SecuredError, RuntimeError):
    """A job ended failed or cancelled; ``job`` holds its view (state, error)."""

    def __init__(self, message: str, job: Optional[dict] = None) -> None:
        super().__init__(message)
        self.job = job


class Job:
    """A job on the server: ``id``, ``state``, ``result``, and its output files."""

    def __init__(self, client: "Client", view: dict) -> None:
        self.client, self.view = client, view

    id = property(lambda self: self.view["id"])
    state = property(lambda self: self.view["state"])
    result = property(lambda self: self.view.get("result"))
    outputs = property(lambda self: dict(self.view.get("outputs") or {}))

    def __repr__(self) -> str:
        return f"Job({self.view['kind']!r}, id={self.id!r}, state={self.state!r})"

    def refresh(self) -> "Job":
        self.view = self.client.job(self.id)
        return self

    def wait(self, timeout: Optional[float] = None, progress: Optional[Callable[[dict], None]] = None) -> "Job":
        self.view = self.client.wait(self.id, timeout=timeout, progress=progress)
        return self

    def bytes(self, name: str) -> bytes:
        return self.client.output(self.id, name)

    def table(self, name: str) -> pd.DataFrame:
        return _read_table(self.bytes(name), self.outputs.get(name, {}).get("media_type", ""))

    def json(self, name: str) -> Any:
        return json.loads(self.bytes(name).decode("utf-8"))

    def publish(self, output: str, name: str, **options: Any) -> dict:
        return self.client.publish(self.id, output, name, **options)

    def cancel(self) -> "Job":
        self.view = self.client.cancel(self.id)
        return self


class Client:
    """``Client(url, token)``: the hub's HTTP API (see the module)."""

    def __init__(self, url: str, token: Optional[str] = None, *, timeout: float = 120.0, http: Any = None) -> None:
        import httpx

        self.url = url.rstrip("/")
        self.token = token if token is not None else os.environ.get("SECURED_TOKEN")
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        self.http = http if http is not None else httpx.Client(base_url=self.url, timeout=timeout)
        self.http.headers.update(headers)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- plumbing ------------------------------------------------------------------------------------
    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        import httpx

        try:
            res = self.http.request(method, path, **kwargs)
        except httpx.TransportError:
            raise HubError(f"Could not reach the SECURED service at {self.url}; is `secured serve` running "
                           "there?") from None
        if res.status_code >= 400:
            try:
                message = res.json().get("message") or res.reason_phrase
            except ValueError:
                message = res.reason_phrase
            raise _ERRORS.get(res.status_code, HubError)(f"{message} (HTTP {res.status_code})")
        return res

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._call(method, path, **kwargs).json()

    def submit(self, kind: str, files: Mapping[str, Table] | None = None, params: Mapping[str, Any] | None = None,
               *, lake: Mapping[str, Mapping[str, Any]] | None = None, updates: Sequence[Any] = ()) -> Job:
        """Submit a job of ``kind`` (see ``kinds()``); returns it queued."""
        parts = [(name, _file(name, value)) for name, value in (files or {}).items() if value is not None]
        parts += [("updates", (f"update_{i}.npz", _npz(u))) for i, u in enumerate(updates)]
        data = {"params": json.dumps(dict(params or {})), "lake": json.dumps(dict(lake or {}))}
        view = self._json("POST", "/v1/" + kind.replace(".", "/"), files=parts or None, data=data)
        return Job(self, {**view, "outputs": {}, "result": None})

    def _run(self, kind: str, files: Mapping[str, Table], params: dict, wait: bool,
             progress: Optional[Callable[[dict], None]], lake: Any = None, updates: Sequence[Any] = ()) -> Job:
        job = self.submit(kind, files, {k: v for k, v in params.items() if v is not None}, lake=lake, updates=updates)
        return job.wait(progress=progress) if wait else job

    # -- service and jobs ------------------------------------------------------------------------------
    def health(self) -> dict:
        return self._json("GET", "/v1/health")

    def kinds(self) -> list[dict]:
        return self._json("GET", "/v1/kinds")

    def job(self, job_id: str) -> dict:
        return self._json("GET", f"/v1/jobs/{job_id}")

    def jobs(self, state: Optional[str] = None, limit: int = 100) -> list[dict]:
        return self._json("GET", "/v1/jobs", params={k: v for k, v in (("state", state), ("limit", limit)) if v})

    def wait(self, job_id: str, timeout: Optional[float] = None, progress: Optional[Callable[[dict], None]] = None
             ) -> dict:
        """The job once it has ended (succeeded; failed or cancelled raise JobFailed)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = 20.0 if deadline is None else max(0.0, min(20.0, deadline - time.monotonic()))
            view = self._json("GET", f"/v1/jobs/{job_id}", params={"wait": left})
            if progress is not None and view.get("progress"):
                progress(view["progress"])
            if view["state"] == "succeeded":
                return view
            if view["state"] in ("failed", "cancelled"):
                reason = view.get("error") or "cancelled by its owner"
                raise JobFailed(f"The {view['kind']} job {view['state']}: {reason}", view)
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"The job is still {view['state']} after {timeout:g} s; wait again or cancel it.")

    def cancel(self, job_id: str) -> dict:
        return self._json("POST", f"/v1/jobs/{job_id}/cancel")

    def delete(self, job_id: str) -> None:
        self._call("DELETE", f"/v1/jobs/{job_id}")

    def output(self, job_id: str, name: str) -> bytes:
        return self._call("GET", f"/v1/jobs/{job_id}/outputs/{name}").content

    def publish(self, job_id: str, output: str, name: str, *, to: str = "lake", visibility: str = "members",
                readers: Sequence[str] = (), inventory: bool = False, title: Optional[str] = None,
                tags: Sequence[str] = (), access: str = "download") -> dict:
        """Put a job's output in your lake namespace (``inventory=True``: and the inventory) or
        the model registry (``to="model"``)."""
        body = {"output": output, "to": to, "name": name, "visibility": visibility, "readers": list(readers),
                "inventory": inventory, "title": title, "tags": list(tags), "access": access}
        return self._json("POST", f"/v1/jobs/{job_id}/publish", json=body)

    # -- the CLI's verbs -------------------------------------------------------------------------------
    def anonymize(self, table: Table, *, quasi_identifiers: Sequence[str], wait: bool = True,
                  progress: Optional[Callable[[dict], None]] = None, **params: Any) -> Job:
        """``secured anonymize``: outputs release, recoding, report; ``result`` is the report."""
        return self._run("anonymize", {"table": table}, {"quasi_identifiers": list(quasi_identifiers), **params},
                         wait, progress)

    def protect(self, table: Table, *, quasi_identifiers: Sequence[str], control: Optional[Table] = None,
                wait: bool = True, progress: Optional[Callable[[dict], None]] = None, **params: Any) -> Job:
        """``secured protect``: the release whose risks all pass (outputs release, recoding, report)."""
        return self._run("protect", {"table": table, "control": control},
                         {"quasi_identifiers": list(quasi_identifiers), **params}, wait, progress)

    def assess(self, original: Table, release: Table, *, control: Optional[Table] = None,
               recoding: Optional[Mapping[str, Any] | bytes] = None, wait: bool = True,
               progress: Optional[Callable[[dict], None]] = None, **params: Any) -> Job:
        """``secured assess``: the attacks' risks (``result`` is the assessment report)."""
        rec = json.dumps(recoding).encode() if isinstance(recoding, Mapping) else recoding
        return self._run("assess", {"original": original, "release": release, "control": control,
                                    "recoding": None if rec is None else ("recoding.json", rec)}, params, wait,
                         progress)

    def synth_fit(self, table: Table, *, wait: bool = True, **params: Any) -> Job:
        """``secured synth fit``: output 'generator' (publish it with access='sample')."""
        return self._run("synth.fit", {"table": table}, params, wait, None)

    def synth_evaluate(self, real_train: Table, synthetic: Table, real_holdout: Table, *, wait: bool = True,
                       **params: Any) -> Job:
        return self._run("synth.evaluate", {"real_train": real_train, "synthetic": synthetic,
                                            "real_holdout": real_holdout}, params, wait, None)

    def synth_sample(self, model: str, n: int, *, version: Any = None, conditions: Optional[dict] = None,
                     seed: Optional[int] = None) -> pd.DataFrame:
        """Rows sampled by the hub from a published generator."""
        body = {"n": n, "version": None if version is None else str(version), "conditions": conditions, "seed": seed}
        out = self._json("POST", f"/v1/models/{model}/sample", json=body)
        return pd.DataFrame(out["rows"], columns=out["columns"])

    def bias_report(self, table: Table, protected: Sequence[str], target: Optional[str] = None, *,
                    positive: Optional[str] = None, min_cell: int = 10) -> dict:
        data = {"protected": ",".join(protected), "min_cell": str(min_cell)}
        data.update({k: v for k, v in (("target", target), ("positive", positive)) if v is not None})
        return self._json("POST", "/v1/bias/report", files=[("table", _file("table", table))], data=data)

    def bias_mitigate(self, table: Table, *, protected: Sequence[str], target: str, wait: bool = True,
                      **params: Any) -> Job:
        return self._run("bias.mitigate", {"table": table}, {"protected": list(protected), "target": target,
                                                             **params}, wait, None)

    def aggregate(self, current: Sequence[Any], updates: Sequence[tuple[Sequence[Any], int]], *,
                  strategy: str = "fedavg", options: Optional[dict] = None, round: int = 1,
                  wait: bool = True) -> Job:
        """One federated aggregation: ``updates`` are (arrays, num_examples); output 'params'."""
        return self._run("federation.aggregate", {"current": ("current.npz", _npz((current, None)))},
                         {"strategy": strategy, "options": options or {}, "round": round}, wait, None,
                         updates=updates)

    def open_round(self, current: Sequence[Any], participants: Sequence[str], *, strategy: str = "fedavg",
                   options: Optional[dict] = None, round: int = 1, min_updates: Optional[int] = None) -> Job:
        """Open a federated round (you own it): each participant then calls ``submit_update``."""
        params = {"strategy": strategy, "options": options or {}, "round": round, "participants": list(participants),
                  "min_updates": min_updates}
        view = self._json("POST", "/v1/federation/rounds", files=[("current", ("current.npz", _npz((current, None))))],
                          data={"params": json.dumps(params)})
        return Job(self, {**view, "outputs": {}, "result": None})

    def submit_update(self, round_id: str, params: Sequence[Any], num_examples: int) -> dict:
        """Your update to an open round you participate in."""
        return self._json("POST", f"/v1/federation/rounds/{round_id}/updates",
                          files=[("update", ("update.npz", _npz((params, num_examples))))])

    def aggregate_round(self, round_id: str, *, wait: bool = True) -> Job:
        """Aggregate your open round; output 'params' (participants may fetch it)."""
        job = Job(self, self._json("POST", f"/v1/federation/rounds/{round_id}/aggregate"))
        return job.wait() if wait else job

    # -- knowledge base --------------------------------------------------------------------------------
    def datasets(self, text: Optional[str] = None) -> list[dict]:
        return self._json("GET", "/v1/datasets", params={"text": text} if text else None)

    def dataset(self, dataset_id: int) -> dict:
        return self._json("GET", f"/v1/datasets/{dataset_id}")

    def lake(self) -> list[dict]:
        return self._json("GET", "/v1/lake")

    def lake_get(self, owner: str, name: str, version: Optional[int] = None) -> pd.DataFrame:
        res = self._call("GET", f"/v1/lake/{owner}/{name}", params={"version": version} if version else None)
        return pd.read_parquet(io.BytesIO(res.content))

    def lake_put(self, name: str, table: Table, *, visibility: str = "all", readers: Sequence[str] = ()) -> dict:
        return self._json("POST", f"/v1/lake/{name}", files=[("table", _file("table", table))],
                          data={"visibility": visibility, "readers": ",".join(readers)})

    def models(self) -> list[dict]:
        return self._json("GET", "/v1/models")

    def model(self, name: str) -> dict:
        return self._json("GET", f"/v1/models/{name}")

    def download_model(self, name: str, version: Any = None) -> bytes:
        return self._call("GET", f"/v1/models/{name}/download",
                          params={"version": str(version)} if version is not None else None).content

    def federation_runs(self) -> list[dict]:
        return self._json("GET", "/v1/federation/runs")

    def federation_run(self, name: str, owner: Optional[str] = None) -> dict:
        return self._json("GET", f"/v1/federation/runs/{name}", params={"owner": owner} if owner else None)

    def audit(self, limit: int = 100) -> list[dict]:
        return self._json("GET", "/v1/audit", params={"limit": limit})


def _file(name: str, value: Table) -> tuple[str, bytes]:
    if isinstance(value, tuple):
        return value
    if isinstance(value, pd.DataFrame):
        buffer = io.BytesIO()
        value.to_parquet(buffer, index=False)
        return f"{name}.parquet", buffer.getvalue()
    if isinstance(value, (str, Path)):
        path = Path(value)
        if not path.is_file():
            raise BadInputError(f"No file at {path}.")
        return path.name, path.read_bytes()
    if isinstance(value, (bytes, bytearray)):
        return (f"{name}.parquet" if bytes(value[:4]) == b"PAR1" else f"{name}.csv"), bytes(value)
    raise BadInputError(f"The {name} must be a DataFrame, a path to a .csv/.parquet file, or its bytes.")


def _npz(update: Any) -> bytes:
    import numpy as np

    arrays, n = update
    buffer = io.BytesIO()
    np.savez(buffer, *[np.asarray(a) for a in arrays], **({} if n is None else {"num_examples": n}))
    return buffer.getvalue()


def _read_table(data: bytes, media_type: str) -> pd.DataFrame:
    if media_type == "text/csv":
        return pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False, na_values=[""])
    return pd.read_parquet(io.BytesIO(data))
