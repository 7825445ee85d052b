"""The FastAPI application of the hub: versioned routes under ``/v1``, bearer tokens of the
hub on every route but health and docs, errors in SECURED's words (never a cell value).

Authorization is the hub's own: a route passes the caller's token to the ``Hub`` method,
which checks scope, visibility and writes the audit row, exactly as for the Python API and
the CLI. Uploads are CSV or Parquet files up to ``max_upload_bytes`` (413 beyond).
"""

from __future__ import annotations

import io
from typing import Any, Optional

from fastapi import Depends, FastAPI, File, Form, Header, Request, UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from ...exceptions import (AccessDenied, BadInputError, ConfigurationError, IntegrityError, NotFound,
                           PrivacyBudgetError, SecuredError)

__all__ = ["build_app", "MAX_UPLOAD_BYTES"]

MAX_UPLOAD_BYTES = 64 * 1024 * 1024

_STATUS = [(AccessDenied, 403), (NotFound, 404), (IntegrityError, 400), (BadInputError, 400),
           (ConfigurationError, 422), (PrivacyBudgetError, 409)]


class Problem(BaseModel):
    """An error: what is wrong and what to do; never a data value."""
    error: str = Field(description="The error's category (a SECURED exception name).")
    message: str = Field(description="What is wrong and what to do.")


class Health(BaseModel):
    """The service answers."""
    status: str = Field(description="'ok' when the service answers.")
    version: str = Field(description="The secured package version.")


class BiasSummary(BaseModel):
    """The findings of a bias report (see secured.bias.bias_report)."""
    findings: dict[str, Any] = Field(description="Smallest cell, parity spreads, suppressed cells, ...")
    report: dict[str, Any] = Field(description="The whole report, small cells suppressed.")


class _Unauthorized(SecuredError, PermissionError):
    """No usable token: HTTP 401 (a valid token without the right scope or visibility is 403)."""


def _bearer(authorization: Optional[str]) -> str:
    if not authorization:
        raise _Unauthorized("This route needs a token: send 'Authorization: Bearer sk_...'.")
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise _Unauthorized("The Authorization header must be 'Bearer sk_...'.")
    return value.strip()


async def _table(upload: UploadFile, limit: int):
    import pandas as pd

    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise _TooLarge(limit)
    name = (upload.filename or "").lower()
    try:
        if name.endswith(".parquet") or data[:4] == b"PAR1":
            return pd.read_parquet(io.BytesIO(data))
        if name.endswith(".csv") or (upload.content_type or "").startswith("text/csv"):
            return pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False, na_values=[""])
    except Exception:
        raise BadInputError("The upload is not a readable CSV or Parquet file.") from None
    raise BadInputError("Upload a .csv or .parquet file.")


class _TooLarge(SecuredError, ValueError):
    def __init__(self, limit: int) -> None:
        size = f"{limit / 2 ** 20:g} MiB" if limit >= 2 ** 20 else f"{limit / 2 ** 10:g} KiB"
        super().__init__(f"The upload exceeds the {size} limit; put it in the lake and send a reference instead.")


def build_app(hub: Any, *, max_upload_bytes: int = MAX_UPLOAD_BYTES) -> FastAPI:
    """The application over ``hub``: a ``secured.hub.Hub``, or a zero-argument factory of one
    (a Serve replica opens its own connection to the knowledge base on first use)."""
    from ... import __version__

    if callable(hub) and not hasattr(hub, "authenticate"):
        factory, cache = hub, {}

        class _Lazy:
            def __getattr__(self, name: str) -> Any:
                if "hub" not in cache:
                    cache["hub"] = factory()
                return getattr(cache["hub"], name)

        hub = _Lazy()

    app = FastAPI(title="SECURED hub", version="1", description="Anonymization, assessment, synthesis, bias, "
                  "federation and the knowledge base over HTTP. Every route but health needs a hub token.")

    def _token(authorization: Optional[str] = Header(default=None, description="Bearer sk_... token of the hub.")
               ) -> str:
        token = _bearer(authorization)
        try:
            hub.authenticate(token, "http")          # a bad, revoked or expired token is refused (and audited) here
        except AccessDenied as exc:
            raise _Unauthorized(str(exc)) from None
        return token

    @app.exception_handler(SecuredError)
    async def _secured_error(request: Request, exc: SecuredError) -> JSONResponse:
        if isinstance(exc, _Unauthorized):
            status, name = 401, "AccessDenied"
        else:
            status = 413 if isinstance(exc, _TooLarge) else next(
                (code for cls, code in _STATUS if isinstance(exc, cls)), 400)
            name = "TooLarge" if isinstance(exc, _TooLarge) else type(exc).__name__
        return JSONResponse(status_code=status, content={"error": name, "message": str(exc)})

    @app.get("/v1/health", response_model=Health, tags=["service"])
    def health() -> Health:
        """The service answers (no token needed)."""
        return Health(status="ok", version=__version__)

    @app.get("/v1/datasets", tags=["knowledge base"], responses={401: {"model": Problem}})
    def datasets(text: Optional[str] = None, token: str = Depends(_token)) -> list[dict[str, Any]]:
        """Inventory entries the caller may see (text search optional)."""
        return hub.search_datasets(token, text) if text else hub.search_datasets(token)

    @app.get("/v1/models", tags=["knowledge base"], responses={401: {"model": Problem}})
    def models(token: str = Depends(_token)) -> list[dict[str, Any]]:
        """Models with the versions the caller may see."""
        return hub.list_models(token)

    @app.get("/v1/federation/runs", tags=["federation"], responses={401: {"model": Problem}})
    def runs(token: str = Depends(_token)) -> list[dict[str, Any]]:
        """Federation runs the caller may see."""
        return hub.list_federation_runs(token)

    @app.post("/v1/bias/report", response_model=BiasSummary, tags=["bias"],
              responses={400: {"model": Problem}, 401: {"model": Problem}, 413: {"model": Problem}})
    async def bias(table: UploadFile = File(description="The table (.csv or .parquet)."),
                   protected: str = Form(description="Comma-separated protected columns."),
                   target: Optional[str] = Form(default=None, description="Binary outcome column."),
                   positive: Optional[str] = Form(default=None, description="Favourable label of the target."),
                   min_cell: int = Form(default=10, ge=0, description="Smaller groups are suppressed."),
                   token: str = Depends(_token)) -> BiasSummary:
        """The bias report of an uploaded table (small cells suppressed). The token is checked
        first: the call is refused before the file is read when it is not valid."""
        from ...bias import bias_report

        hub.authorize(token, "bias.report", "read")
        df = await _table(table, max_upload_bytes)
        report = bias_report(df, [c.strip() for c in protected.split(",") if c.strip()], target,
                             positive=positive, min_cell=min_cell)
        return BiasSummary(findings=report.findings, report=report.to_dict())

    return app
