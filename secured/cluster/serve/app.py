"""The FastAPI application of the hub: versioned routes under ``/v1``, bearer tokens of the
hub on every route but health and docs, errors in SECURED's words (never a cell value).

Authorization is the hub's own: a route passes the caller's token to the ``Hub`` method, which
checks scope, role and visibility and writes the audit row, exactly as for the Python API and
the CLI (a lake object or a model version refused there is refused here). Uploads are CSV or
Parquet files up to ``max_upload_bytes`` (413 beyond); a job's input may also be a lake
object (``lake`` form field), read under the caller's visibility.

Long work is a job: ``POST /v1/<kind>`` checks the token, the parameters and the files (a
missing column is a 400 and nothing is stored), stores the inputs and answers 202 with the job
id; a runner (``runner.JobRunner``) runs it; ``GET /v1/jobs/{id}`` gives state and progress
(``?wait=`` long-polls); outputs are fetched from ``/v1/jobs/{id}/outputs/{name}`` or put in the
lake or the registry with ``/v1/jobs/{id}/publish``. Jobs live in the knowledge base, so a
client that disconnects or a replica that restarts loses nothing.
"""

from __future__ import annotations

import asyncio
import inspect
import io
import json
from typing import Any, Awaitable, Callable, Literal, Optional

from fastapi import Depends, FastAPI, File, Form, Header, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ...exceptions import (AccessDenied, BadInputError, ConfigurationError, IntegrityError, NotFound,
                           PrivacyBudgetError, SecuredError, StateConflict, Unauthenticated)
from .work import KINDS, Kind, PARQUET, check_update_file, prepare_inputs, table_bytes

__all__ = ["build_app", "MAX_UPLOAD_BYTES"]

MAX_UPLOAD_BYTES = 64 * 1024 * 1024
MAX_WAIT_SECONDS = 30.0

_STATUS = [(AccessDenied, 403), (NotFound, 404), (StateConflict, 409), (IntegrityError, 400), (BadInputError, 400),
           (ConfigurationError, 422), (PrivacyBudgetError, 409)]
_ERRORS: dict[int, dict[str, Any]] = {
    400: {"description": "Bad input (what is wrong, never a value)."},
    401: {"description": "No valid token."}, 403: {"description": "The token may not do this."},
    404: {"description": "Not found (or not visible to the caller)."},
    405: {"description": "No such method on this path (e.g. a name with a line break)."},
    409: {"description": "Not in a state that allows this."},
    413: {"description": "The upload is larger than the limit."},
    422: {"description": "Parameters of the wrong shape."}}


# -- schemas ---------------------------------------------------------------------------------------

class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Problem(_Model):
    """An error: what is wrong and what to do; never a data value."""
    error: str = Field(description="The error's category (a SECURED exception name).")
    message: str = Field(description="What is wrong and what to do.")


for _entry in _ERRORS.values():
    _entry["model"] = Problem


def _errs(*codes: int) -> dict[int, dict[str, Any]]:
    return {code: _ERRORS[code] for code in codes}


class Health(_Model):
    """The service answers."""
    status: str = Field(description="'ok' when the service answers.")
    version: str = Field(description="The secured package version.")


class KindInfo(_Model):
    """A kind of job this server runs."""
    kind: str = Field(description="The job kind (its route is /v1/<kind with / for .>).")
    summary: str = Field(description="What it does.")
    files: list[str] = Field(description="Required files.")
    optional_files: list[str] = Field(description="Optional files.")
    params: dict[str, Any] = Field(description="JSON schema of the 'params' form field.")


class JobAccepted(_Model):
    """A job was accepted: poll its location."""
    id: str = Field(description="Job id (32 hex digits).")
    kind: str = Field(description="The job kind.")
    state: str = Field(description="'queued' ('open' for a federated round).")
    location: str = Field(description="Where to poll the job.")


class JobOutput(_Model):
    """An output file of a job."""
    size: int = Field(description="Bytes.")
    media_type: str = Field(description="Media type of the file.")


class JobView(_Model):
    """A job: state, progress, result, outputs."""
    id: str = Field(description="Job id.")
    kind: str = Field(description="The job kind.")
    owner: str = Field(description="The member who submitted it.")
    state: Literal["open", "queued", "running", "succeeded", "failed", "cancelled"] = Field(description=(
        "State ('open': a federated round waiting for its participants' updates)."))
    params: dict[str, Any] = Field(description="The parameters it was submitted with.")
    progress: dict[str, Any] = Field(description="Latest progress: stage, done, total, attempt.")
    result: Optional[dict[str, Any]] = Field(default=None, description="The result (report) once it succeeded.")
    error: Optional[str] = Field(default=None, description="Why it failed (never a data value).")
    attempts: int = Field(description="Times a worker started it (a worker that died gives it to another).")
    cancel_requested: bool = Field(description="The owner asked to cancel it.")
    outputs: dict[str, JobOutput] = Field(description="Output files, fetched from outputs/{name}.")
    created_at: str = Field(description="Submitted at (UTC, ISO 8601).")
    updated_at: str = Field(description="Last change (UTC, ISO 8601).")
    finished_at: Optional[str] = Field(default=None, description="Finished at (UTC, ISO 8601).")


class Publish(_Model):
    """Put a job's output into the lake (a table) or the model registry (a file)."""
    output: str = Field(description="The output's name, e.g. 'release', 'table' or 'generator'.")
    to: Literal["lake", "model"] = Field(default="lake", description="'lake' (tables) or 'model' (registry).")
    name: str = Field(min_length=1, max_length=200, description="Lake name or model name.")
    visibility: Literal["all", "members"] = Field(default="members", description="'all' or only 'members' named "
                                                  "in readers (and the owner, admins).")
    readers: list[str] = Field(default_factory=list, description="Members who may read it (visibility members).")
    inventory: bool = Field(default=False, description="Lake: also register the table in the inventory with "
                            "the job's report (k, l, t, risks).")
    title: Optional[str] = Field(default=None, max_length=300, description="Inventory title (default: the name).")
    tags: list[str] = Field(default_factory=list, description="Inventory tags.")
    access: Literal["download", "sample"] = Field(default="download", description="Model: 'sample' publishes a "
                                                  "generator for sampling only (rows, never the file).")


class Published(_Model):
    """Where a job's output went."""
    to: str = Field(description="'lake' or 'model'.")
    name: str = Field(description="Its name.")
    version: int = Field(description="The version created (or reused when the bytes did not change).")
    dataset_id: Optional[int] = Field(default=None, description="Inventory entry when registered.")


class SampleRequest(_Model):
    """Rows sampled by the hub from a published generator."""
    n: int = Field(ge=1, le=1_000_000, description="Rows to sample.")
    version: Optional[str] = Field(default=None, max_length=100, description="Version number or alias "
                                   "(default: newest visible).")
    conditions: Optional[dict[str, Any]] = Field(default=None, description="Fixed values, {column: value}.")
    seed: Optional[int] = Field(default=None, ge=0, le=2**31 - 1, description="Seed (same seed, same rows).")


class SampleRows(_Model):
    """Sampled synthetic rows."""
    columns: list[str] = Field(description="Column names.")
    rows: list[list[Any]] = Field(description="The rows, in column order.")


class BiasSummary(_Model):
    """The findings of a bias report (see secured.bias.bias_report)."""
    findings: dict[str, Any] = Field(description="Smallest cell, parity spreads, suppressed cells, ...")
    report: dict[str, Any] = Field(description="The whole report, small cells suppressed.")


class _Unauthorized(SecuredError, PermissionError):
    """No usable token: HTTP 401 (a valid token without the right scope or visibility is 403)."""


class _TooLarge(SecuredError, ValueError):
    def __init__(self, limit: int) -> None:
        size = f"{limit / 2 ** 20:g} MiB" if limit >= 2 ** 20 else f"{limit / 2 ** 10:g} KiB"
        super().__init__(f"The upload exceeds the {size} limit; put it in the lake and send a reference instead.")


def _bearer(authorization: Optional[str]) -> str:
    if not authorization:
        raise _Unauthorized("This route needs a token: send 'Authorization: Bearer sk_...'.")
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise _Unauthorized("The Authorization header must be 'Bearer sk_...'.")
    return value.strip()


async def _read(upload: UploadFile, limit: int) -> bytes:
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise _TooLarge(limit)
    return data


def _json_field(text: str, what: str) -> Any:
    try:
        return json.loads(text) if text.strip() else {}
    except ValueError:
        raise BadInputError(f"The {what} form field must be JSON.") from None


def _lazy(hub: Any) -> Any:
    if not (callable(hub) and not hasattr(hub, "authenticate")):
        return hub
    factory, cache = hub, {}

    class _Lazy:
        def __getattr__(self, name: str) -> Any:
            if "hub" not in cache:
                cache["hub"] = factory()
            return getattr(cache["hub"], name)

    return _Lazy()


def build_app(hub: Any, *, max_upload_bytes: int = MAX_UPLOAD_BYTES, runner: Any = None,
              sampler: Optional[Callable[..., Awaitable[Any]]] = None) -> FastAPI:
    """The application over ``hub``: a ``secured.hub.Hub``, or a zero-argument factory of one
    (a Serve replica opens its own connection to the knowledge base on first use).

    ``runner``: True starts a ``JobRunner`` thread in this process (tests, one process), a
    runner instance is started as given, None leaves jobs to the ``secured-jobs`` deployment.
    ``sampler``: an async ``(token, name, n, version, conditions, seed) -> DataFrame`` (the
    batched Serve deployment); default: the hub's ``sample_model`` in a thread."""
    from ... import __version__
    from ...hub import describe_table, inventory_fields

    hub = _lazy(hub)
    app = FastAPI(title="SECURED hub", version="1", description=(
        "Anonymization, assessment, synthesis, bias, federation and the knowledge base over HTTP. Every route but "
        "health and the docs needs a hub token: 'Authorization: Bearer sk_...'. Long work is a job: POST answers "
        "202 with its id; poll GET /v1/jobs/{id}."))
    if runner is True:
        from .runner import JobRunner

        runner = JobRunner(hub)
    if runner is not None:
        app.state.runner = runner.start()

    def _token(authorization: Optional[str] = Header(default=None, description="Bearer sk_... token of the hub.")
               ) -> str:
        # The header's shape only: the Hub method each route calls authenticates the token once
        # (Unauthenticated -> 401, audited) and checks scope, role and visibility (-> 403/404).
        return _bearer(authorization)

    @app.exception_handler(SecuredError)
    async def _secured_error(request: Request, exc: SecuredError) -> JSONResponse:
        if isinstance(exc, (_Unauthorized, Unauthenticated)):
            status, name = 401, "AccessDenied"
        else:
            status = 413 if isinstance(exc, _TooLarge) else next(
                (code for cls, code in _STATUS if isinstance(exc, cls)), 400)
            name = "TooLarge" if isinstance(exc, _TooLarge) else type(exc).__name__
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return JSONResponse(status_code=status, content={"error": name, "message": str(exc)}, headers=headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # Starlette's own refusals (unknown path or method, a body it cannot parse) in our shape.
        messages = {404: "No such route; see /docs.", 405: "This route does not take this method; see /docs.",
                    400: "The request body could not be parsed (malformed multipart or JSON)."}
        message = messages.get(exc.status_code, "The request was refused.")
        return JSONResponse(status_code=exc.status_code, content={"error": "HTTPError", "message": message},
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's default body echoes the input ('input' field): keep only where and what.
        problems = [f"{'.'.join(str(x) for x in e.get('loc', ()))}: {e.get('msg', 'invalid')}" for e in exc.errors()]
        return JSONResponse(status_code=422, content={"error": "ValidationError",
                                                      "message": "; ".join(problems)[:2000]})

    @app.exception_handler(ValidationError)
    async def _invalid_params(request: Request, exc: ValidationError) -> JSONResponse:
        problems = [f"{'.'.join(str(x) for x in e.get('loc', ()))}: {e.get('msg', 'invalid')}" for e in exc.errors()]
        return JSONResponse(status_code=422, content={"error": "ValidationError",
                                                      "message": "params: " + "; ".join(problems)[:2000]})

    # -- service -----------------------------------------------------------------------------------
    @app.get("/v1/health", response_model=Health, tags=["service"])
    def health() -> Health:
        """The service answers (no token needed)."""
        return Health(status="ok", version=__version__)

    @app.get("/v1/kinds", response_model=list[KindInfo], tags=["jobs"], responses={401: _ERRORS[401]})
    def kinds(token: str = Depends(_token)) -> list[KindInfo]:
        """The kinds of job this server runs, with the JSON schema of their parameters."""
        hub.authorize(token, "job.kinds", "read")
        return [KindInfo(kind=k.name, summary=k.summary, files=[*k.tables, *k.required_blobs],
                         optional_files=[*k.optional_tables, *(b for b in k.blobs if b not in k.required_blobs),
                                         *([f"{k.many}_0, {k.many}_1, ..."] if k.many else [])],
                         params=k.params.model_json_schema()) for k in KINDS.values()]

    # -- jobs ----------------------------------------------------------------------------------------
    def _submit_route(kind: Kind) -> None:
        path = "/v1/" + kind.name.replace(".", "/")

        async def submit(request: Request, token: str = Depends(_token), **fields: Any) -> JSONResponse:
            hub.authorize(token, f"job.{kind.name}", "write")
            params = kind.params.model_validate(_json_field(fields.get("params") or "", "params"))
            files: dict[str, tuple[bytes, str]] = {}
            for name in (*kind.tables, *kind.optional_tables, *kind.blobs):
                upload = fields.get(name)
                if upload is not None and not isinstance(upload, str):
                    files[name] = (await _read(upload, max_upload_bytes), upload.filename or "")
            for i, upload in enumerate(fields.get("updates") or []):
                files[f"{kind.many}_{i}"] = (await _read(upload, max_upload_bytes), upload.filename or "")
            lake = _json_field(fields.get("lake") or "", "lake")
            if not isinstance(lake, dict):
                raise BadInputError("The lake form field maps input names to {name, owner, version}.")
            for name, ref in lake.items():
                if name in files:
                    raise BadInputError(f"The input {name!r} is both uploaded and taken from the lake; give one.")
                if name not in (*kind.tables, *kind.optional_tables):
                    raise BadInputError(f"Only tables come from the lake; {kind.name} takes "
                                        f"{', '.join((*kind.tables, *kind.optional_tables)) or 'none'}.")
                if not isinstance(ref, dict) or not isinstance(ref.get("name"), str) or \
                        set(ref) - {"name", "owner", "version"}:
                    raise BadInputError("A lake input is {\"name\": ..., \"owner\": ..., \"version\": ...}.")
                df = await asyncio.to_thread(hub.lake_get, token, ref["name"], ref.get("version"), ref.get("owner"))
                files[name] = (table_bytes(df)[0], "lake.parquet")
            total = sum(len(d) for d, _ in files.values())
            if total > max_upload_bytes:
                raise _TooLarge(max_upload_bytes)
            stored = await asyncio.to_thread(prepare_inputs, kind, params, files)
            job_id = await asyncio.to_thread(hub.submit_job, token, kind.name, params.model_dump(mode="json"), stored)
            return JSONResponse(status_code=202, headers={"Location": f"/v1/jobs/{job_id}"},
                                content=JobAccepted(id=job_id, kind=kind.name, state="queued",
                                                    location=f"/v1/jobs/{job_id}").model_dump())

        form = [inspect.Parameter("params", inspect.Parameter.KEYWORD_ONLY, annotation=str, default=Form(
                    default="{}", description=f"JSON parameters ({kind.params.__name__}; schema at /v1/kinds).")),
                inspect.Parameter("lake", inspect.Parameter.KEYWORD_ONLY, annotation=str, default=Form(
                    default="{}", description="JSON: input name -> {name, owner, version} of a lake table, "
                                              "read under your visibility, instead of an upload."))]
        for name in (*kind.tables, *kind.optional_tables):
            form.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=Optional[UploadFile],
                                          default=File(default=None, description=f"The {name} table (.csv or "
                                                       ".parquet)" + ("" if name in kind.tables else ", optional")
                                                       + ".")))
        for name in kind.blobs:
            form.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=Optional[UploadFile],
                                          default=File(default=None, description=f"The {name} file.")))
        if kind.many:
            form.append(inspect.Parameter("updates", inspect.Parameter.KEYWORD_ONLY,
                                          annotation=Optional[list[UploadFile]],
                                          default=File(default=None, description="Client updates: .npz files of "
                                                       "arr_0, arr_1, ... and num_examples.")))
        base = inspect.signature(submit)
        submit.__signature__ = base.replace(parameters=[p for p in base.parameters.values()
                                                        if p.kind != inspect.Parameter.VAR_KEYWORD] + form)
        submit.__name__ = "submit_" + kind.name.replace(".", "_")
        submit.__doc__ = f"{kind.summary} Answers 202 with the job id; poll /v1/jobs/{{id}}."
        app.post(path, status_code=202, response_model=JobAccepted, tags=["jobs"],
                 responses={k: v for k, v in _ERRORS.items() if k != 404})(submit)

    for kind in KINDS.values():
        _submit_route(kind)

    @app.get("/v1/jobs", response_model=list[JobView], tags=["jobs"], responses={401: _ERRORS[401]})
    def jobs(state: Optional[Literal["open", "queued", "running", "succeeded", "failed", "cancelled"]] = None,
             limit: int = Query(default=100, ge=1, le=10_000, description="Most jobs returned."),
             token: str = Depends(_token)) -> list[dict[str, Any]]:
        """Your jobs (every member's for an admin), newest first."""
        return hub.list_jobs(token, state, limit)

    @app.get("/v1/jobs/{job_id}", response_model=JobView, tags=["jobs"],
             responses={401: _ERRORS[401], 404: _ERRORS[404]})
    async def job(job_id: str, wait: float = Query(default=0.0, ge=0.0, le=MAX_WAIT_SECONDS, description=(
                  "Seconds to wait for the job to finish before answering (long poll).")),
                  token: str = Depends(_token)) -> dict[str, Any]:
        """A job's state, progress, result and outputs."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        view = await asyncio.to_thread(hub.get_job, token, job_id)          # the access check, audited
        state = view["state"]
        while state in ("open", "queued", "running") and loop.time() < deadline:
            await asyncio.sleep(min(0.1, max(deadline - loop.time(), 0.0)))
            state = await asyncio.to_thread(hub.job_state, job_id)          # the same caller's job: unaudited
        if state != view["state"]:
            view = await asyncio.to_thread(hub.get_job, token, job_id)
        return view

    @app.post("/v1/jobs/{job_id}/cancel", response_model=JobView, tags=["jobs"],
              responses={k: _ERRORS[k] for k in (401, 403, 404, 409)})
    def cancel(job_id: str, token: str = Depends(_token)) -> dict[str, Any]:
        """Cancel a queued job at once, a running one at its next step."""
        return hub.cancel_job(token, job_id)

    @app.delete("/v1/jobs/{job_id}", status_code=204, tags=["jobs"],
                responses={k: _ERRORS[k] for k in (401, 403, 404, 409)})
    def delete(job_id: str, token: str = Depends(_token)) -> Response:
        """Delete a finished job and its output files."""
        hub.delete_job(token, job_id)
        return Response(status_code=204)

    @app.get("/v1/jobs/{job_id}/outputs/{name}", tags=["jobs"], response_class=Response,
             responses={200: {"description": "The file (Parquet, CSV, JSON or .npz).", "content": {
                 "application/octet-stream": {}, PARQUET: {}, "text/csv": {}, "application/json": {}}},
                        **_errs(401, 403, 404, 409)})
    def output(job_id: str, name: str, token: str = Depends(_token)) -> Response:
        """An output file of a finished job."""
        data, media = hub.job_output(token, job_id, name)
        suffix = {PARQUET: ".parquet", "text/csv": ".csv", "application/json": ".json"}.get(media, ".npz")
        return Response(data, media_type=media,
                        headers={"Content-Disposition": f'attachment; filename="{name}{suffix}"'})

    @app.post("/v1/jobs/{job_id}/publish", response_model=Published, tags=["jobs"],
              responses={k: _ERRORS[k] for k in (400, 401, 403, 404, 409)})
    def publish(job_id: str, body: Publish, token: str = Depends(_token)) -> Published:
        """Put an output of your finished job into your lake namespace (and the inventory) or
        the model registry, under the same rules as the Python API."""
        from ...io import read_table_bytes

        view = hub.get_job(token, job_id)
        data, media = hub.job_output(token, job_id, body.output)
        if body.to == "model":
            version = hub.publish_model(token, body.name, data, metrics=_metrics(view), visibility=body.visibility,
                                        readers=body.readers, access=body.access,
                                        lineage={"job": job_id, "kind": view["kind"]})
            return Published(to="model", name=body.name, version=version)
        if media not in (PARQUET, "text/csv"):
            raise BadInputError("Only table outputs go to the lake; publish this one as a model.")
        table = read_table_bytes(data, "out.parquet" if media == PARQUET else "out.csv")
        stored = hub.lake_put(token, body.name, table, visibility=body.visibility, readers=body.readers)
        dataset_id = None
        if body.inventory:
            if view["kind"] not in ("anonymize", "protect") or not view["result"]:
                raise BadInputError("inventory records an anonymize or protect report; this job has none.")
            fields = describe_table(table, (view["params"] or {}).get("id_column"))
            fields.update(inventory_fields(view["result"]))
            dataset_id = hub.register_dataset(token, title=body.title or body.name, tags=body.tags,
                                              lake_object=stored["sha256"], visibility=body.visibility,
                                              readers=body.readers, **fields)
        return Published(to="lake", name=body.name, version=stored["version"], dataset_id=dataset_id)

    # -- knowledge base ----------------------------------------------------------------------------
    @app.get("/v1/datasets", tags=["knowledge base"], responses=_errs(400, 401))
    def datasets(text: Optional[str] = Query(default=None, max_length=1000, description="Text to search."),
                 token: str = Depends(_token)) -> list[dict[str, Any]]:
        """Inventory entries you may see."""
        return hub.search_datasets(token, text) if text else hub.search_datasets(token)

    @app.get("/v1/datasets/{dataset_id}", tags=["knowledge base"], responses=_errs(400, 401, 404))
    def dataset(dataset_id: int, token: str = Depends(_token)) -> dict[str, Any]:
        """One inventory entry."""
        return hub.get_dataset(token, dataset_id)

    @app.get("/v1/lake", tags=["knowledge base"], responses={401: _ERRORS[401]})
    def lake(token: str = Depends(_token)) -> list[dict[str, Any]]:
        """Lake objects you may see."""
        return hub.lake_list(token)

    @app.get("/v1/lake/{owner}/{name:path}", tags=["knowledge base"], response_class=Response,
             responses={200: {"content": {PARQUET: {}}, "description": "The table as Parquet."},
                        **_errs(400, 401, 404)})
    def lake_get(owner: str, name: str, version: Optional[int] = Query(default=None, ge=1, le=2**31 - 1),
                 token: str = Depends(_token)) -> Response:
        """A lake table as Parquet (the newest version you may see unless ``version``)."""
        df = hub.lake_get(token, name, version, owner)
        return Response(table_bytes(df)[0], media_type=PARQUET)

    @app.post("/v1/lake/{name:path}", tags=["knowledge base"], responses=_errs(400, 401, 403, 404, 405, 413))
    async def lake_put(name: str, table: UploadFile = File(description="The table (.csv or .parquet)."),
                       visibility: Literal["all", "members"] = Form(default="all", description="Who may read it."),
                       readers: str = Form(default="", description="Comma-separated members (visibility members)."),
                       token: str = Depends(_token)) -> dict[str, Any]:
        """Store a table in your lake namespace (producers and admins, as in the Python API)."""
        from ...io import read_table_bytes

        hub.authorize(token, "lake.upload", "write")
        data = await _read(table, max_upload_bytes)
        df = await asyncio.to_thread(read_table_bytes, data, table.filename or "")
        names = [r.strip() for r in readers.split(",") if r.strip()]
        return await asyncio.to_thread(hub.lake_put, token, name, df, visibility=visibility, readers=names)

    @app.get("/v1/models", tags=["knowledge base"], responses={401: _ERRORS[401]})
    def models(token: str = Depends(_token)) -> list[dict[str, Any]]:
        """Models with the versions you may see."""
        return hub.list_models(token)

    @app.get("/v1/models/{name:path}/download", tags=["knowledge base"], response_class=Response,
             responses={200: {"content": {"application/octet-stream": {}}, "description": "The artifact."},
                        **_errs(400, 401, 403, 404)})
    def model_download(name: str, version: Optional[str] = Query(default=None, max_length=100),
                       token: str = Depends(_token)) -> Response:
        """A model version's artifact (a number, an alias or the newest you may see)."""
        ref: Any = int(version) if version is not None and version.isdigit() else version
        return Response(hub.download_model(token, name, ref), media_type="application/octet-stream")

    @app.post("/v1/models/{name:path}/sample", response_model=SampleRows, tags=["knowledge base"],
              responses={k: _ERRORS[k] for k in (400, 401, 403, 404)})
    async def model_sample(name: str, body: SampleRequest, token: str = Depends(_token)) -> SampleRows:
        """Rows sampled by the hub from a published generator (you get rows, never the file)."""
        ref: Any = int(body.version) if body.version is not None and body.version.isdigit() else body.version
        if sampler is not None:
            df = await sampler(token, name, body.n, ref, body.conditions, body.seed)
        else:
            df = await asyncio.to_thread(hub.sample_model, token, name, body.n, version=ref,
                                         conditions=body.conditions, seed=body.seed)
        from ...io import json_text

        rows = json.loads(json_text(df.astype(object).where(df.notna(), None).to_numpy().tolist()))
        return SampleRows(columns=[str(c) for c in df.columns], rows=rows)

    @app.get("/v1/models/{name:path}", tags=["knowledge base"], responses=_errs(400, 401, 404))
    def model(name: str, token: str = Depends(_token)) -> dict[str, Any]:
        """A model with the versions you may see."""
        return hub.show_model(token, name)

    @app.post("/v1/federation/rounds", status_code=201, response_model=JobAccepted, tags=["federation"],
              responses={k: v for k, v in _ERRORS.items() if k != 409})
    async def open_round(params: str = Form(description="JSON: strategy, options, round, participants (member "
                                                        "names), min_updates."),
                         current: UploadFile = File(description="The current global parameters (.npz of arr_0, "
                                                                "arr_1, ...)."),
                         token: str = Depends(_token)) -> JSONResponse:
        """Open a federated round: each participant submits one update, then you aggregate it.
        The round is a job: its state, result and the aggregated 'params' are at /v1/jobs/{id}
        (participants may read them too)."""
        kind = KINDS["federation.aggregate"]
        hub.authorize(token, "federation.round", "write")
        parsed = kind.params.model_validate(_json_field(params, "params"))
        if not parsed.participants:
            raise BadInputError("Name the round's participants (member names) in params.participants.")
        if parsed.min_updates is not None and parsed.min_updates > len(set(parsed.participants)):
            raise BadInputError("min_updates cannot exceed the number of participants.")
        files = {"current": (await _read(current, max_upload_bytes), current.filename or "")}
        stored = await asyncio.to_thread(prepare_inputs, kind, parsed, files)
        job_id = await asyncio.to_thread(hub.submit_job, token, kind.name, parsed.model_dump(mode="json"), stored,
                                         participants=parsed.participants)
        return JSONResponse(status_code=201, headers={"Location": f"/v1/jobs/{job_id}"},
                            content=JobAccepted(id=job_id, kind=kind.name, state="open",
                                                location=f"/v1/jobs/{job_id}").model_dump())

    @app.post("/v1/federation/rounds/{job_id}/updates", status_code=202, tags=["federation"],
              responses={k: _ERRORS[k] for k in (400, 401, 403, 404, 409, 413)})
    async def submit_update(job_id: str, update: UploadFile = File(description="Your update: .npz of arr_0, arr_1, "
                                                                               "... and num_examples."),
                            token: str = Depends(_token)) -> dict[str, str]:
        """A participant's update to an open round (one per participant)."""
        hub.authorize(token, "federation.update", "write")             # before the upload is read
        data = await _read(update, max_upload_bytes)
        check_update_file(data)
        name = await asyncio.to_thread(hub.add_job_input, token, job_id, data)
        return {"round": job_id, "input": name}

    @app.post("/v1/federation/rounds/{job_id}/aggregate", status_code=202, response_model=JobView,
              tags=["federation"], responses={k: _ERRORS[k] for k in (401, 403, 404, 409)})
    def aggregate_round(job_id: str, token: str = Depends(_token)) -> dict[str, Any]:
        """Aggregate an open round you own (once enough participants submitted); poll the job."""
        params = hub.get_job(token, job_id)["params"] or {}          # release_job refuses all but the owner
        need = params.get("min_updates") or len(params.get("participants", []))
        return hub.release_job(token, job_id, need)

    @app.get("/v1/federation/runs", tags=["federation"], responses={401: _ERRORS[401]})
    def runs(token: str = Depends(_token)) -> list[dict[str, Any]]:
        """Federation runs you may see."""
        return hub.list_federation_runs(token)

    @app.get("/v1/federation/runs/{name:path}", tags=["federation"], responses=_errs(400, 401, 404))
    def run(name: str, owner: Optional[str] = Query(default=None, max_length=200),
            token: str = Depends(_token)) -> dict[str, Any]:
        """A federation run with its per-round records."""
        return hub.show_federation_run(token, name, owner)

    @app.get("/v1/audit", tags=["knowledge base"], responses={k: _ERRORS[k] for k in (401, 403)})
    def audit(limit: int = Query(default=100, ge=1, le=10_000), token: str = Depends(_token)) -> list[dict[str, Any]]:
        """The audit log, newest first (admins)."""
        return hub.audit_log(token, limit)

    # -- quick computations ------------------------------------------------------------------------
    @app.post("/v1/bias/report", response_model=BiasSummary, tags=["bias"],
              responses={k: _ERRORS[k] for k in (400, 401, 413)})
    async def bias(table: UploadFile = File(description="The table (.csv or .parquet)."),
                   protected: str = Form(description="Comma-separated protected columns."),
                   target: Optional[str] = Form(default=None, description="Binary outcome column."),
                   positive: Optional[str] = Form(default=None, description="Favourable label of the target."),
                   min_cell: int = Form(default=10, ge=0, le=1_000_000, description="Smaller groups are suppressed."),
                   token: str = Depends(_token)) -> BiasSummary:
        """The bias report of an uploaded table (small cells suppressed). The token is checked
        first: the call is refused before the file is read when it is not valid."""
        from ...bias import bias_report
        from ...io import read_table_bytes

        hub.authorize(token, "bias.report", "read")
        data = await _read(table, max_upload_bytes)

        def compute() -> BiasSummary:
            df = read_table_bytes(data, table.filename or "")
            report = bias_report(df, [c.strip() for c in protected.split(",") if c.strip()], target,
                                 positive=positive, min_cell=min_cell)
            return BiasSummary(findings=report.findings, report=report.to_dict())

        return await asyncio.to_thread(compute)

    return app


def _metrics(view: dict[str, Any]) -> dict[str, Any]:
    """Numbers of a job's result worth keeping next to a published model."""
    result = view.get("result") or {}
    return {k: v for k, v in result.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
