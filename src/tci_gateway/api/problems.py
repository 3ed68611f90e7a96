"""RFC 9457 problem details: every error the API answers is ``application/problem+json``
with the same words as the CLI.

Raise :class:`Problem` in a route (or let a gateway error propagate: the handlers map
:class:`~tci_gateway.errors.InputError` to 422 with every bad record, a ledger that cannot
be opened to 503, an insurer failing to 502 or 503). An unexpected exception is a 500 with
a one-line message and the request id, never a traceback.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from tci_gateway.errors import (
    AdapterError,
    ConfigError,
    InputError,
    LedgerUnavailableError,
    RateLimitedError,
    RecordError,
    TransientError,
)
from tci_gateway.ledger.engine import ledger_busy
from tci_gateway.logs import get_logger, redact_text

PROBLEM_MEDIA_TYPE = "application/problem+json"
TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    409: "Conflict",
    412: "Precondition failed",
    413: "Content too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    429: "Too many requests",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable",
}


class FieldError(BaseModel):
    """One bad record of a batch, or one bad parameter."""

    index: int | None = Field(None, description="0-based index of the record in the batch")
    row: int | None = Field(None, description="row number in a CSV body (header is row 1)")
    field: str | None = None
    reason: str


class ProblemDetail(BaseModel):
    """RFC 9457 problem details."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    request_id: str | None = None
    errors: list[FieldError] | None = None


def _problem_content() -> dict[str, Any]:
    return {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/ProblemDetail"}}}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for these statuses, each a problem document."""
    return {
        status: {"description": TITLES.get(status, "Error"), "content": _problem_content()}
        for status in statuses
    }


# Every /v1 route may answer these (authentication, scope, rate limit, body, ledger).
COMMON_PROBLEMS = problem_responses(400, 401, 403, 413, 422, 429, 503)


class Problem(Exception):
    """An error answered as a problem document."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        title: str | None = None,
        type_: str = "about:blank",
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.title = title or TITLES.get(status, "Error")
        self.type = type_
        self.errors = errors
        self.headers = headers or {}


def request_id_of(request: Request) -> str | None:
    value = getattr(request.state, "request_id", None)
    return value if isinstance(value, str) else None


def problem_response(request: Request, problem: Problem) -> JSONResponse:
    body = ProblemDetail(
        type=problem.type,
        title=problem.title,
        status=problem.status,
        detail=redact_text(problem.detail),
        instance=request.url.path,
        request_id=request_id_of(request),
        errors=problem.errors,
    )
    return JSONResponse(
        body.model_dump(exclude_none=True),
        status_code=problem.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=problem.headers,
    )


_JSON_LINE_ERRORS = ("malformed JSON", "bytes that are not UTF-8")


def record_errors(errors: list[RecordError], *, fmt: str | None = None) -> list[FieldError]:
    """A batch's record errors as problem entries with the record's 0-based index. The
    readers number a JSON record by its position from 1 (index ``row - 1``) and a CSV
    record by its row with the header as row 1 (index ``row - 2``, the row kept too; an
    error on row 1 is the header's, no record's). ``fmt`` (``json`` or ``csv``) says
    which the batch was; without it, the source's extension does (``.csv``: CSV). A
    JSON document that cannot be read at all is numbered by its line: no index."""
    out = []
    for error in errors:
        is_csv = fmt == "csv" if fmt is not None else error.source.endswith(".csv")
        if not is_csv and error.reason.startswith(_JSON_LINE_ERRORS) and error.row is not None:
            reason = f"line {error.row}: {error.reason}"
            out.append(FieldError(field=error.column, reason=reason))
            continue
        index: int | None = None
        if error.row is not None:
            index = (error.row - 2 if error.row >= 2 else None) if is_csv else error.row - 1
        row = error.row if is_csv else None
        out.append(FieldError(index=index, row=row, field=error.column, reason=error.reason))
    return out


def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = []
    for error in exc.errors():
        loc = [str(part) for part in error.get("loc", ())]
        index = next((int(p) for p in loc if p.isdigit()), None)
        field = ".".join(p for p in loc if not p.isdigit() and p != "body") or None
        errors.append(FieldError(index=index, field=field, reason=str(error.get("msg", ""))))
    count = len(errors)
    detail = f"{count} invalid field{'s' if count != 1 else ''}; nothing was written"
    return problem_response(request, Problem(422, detail, errors=errors))


def _allowed_methods(request: Request, given: str | None) -> str | None:
    """Every method the document declares at this path (Starlette's 405 names only the
    first matching route's methods, though GET and POST of one path are two routes);
    ``given`` for a path outside the document (/docs)."""
    path = request.url.path
    for template, item in request.app.openapi().get("paths", {}).items():
        pattern = re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(template))
        if re.fullmatch(pattern, path):
            methods = {m.upper() for m in item if m in _HTTP_METHODS}
            return ", ".join(sorted(methods)) or given
    return given


_HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into a problem document."""

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _validation(request, exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else TITLES.get(exc.status_code, "")
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            allowed = _allowed_methods(request, headers.get("Allow"))
            if allowed:
                headers["Allow"] = allowed
        return problem_response(request, Problem(exc.status_code, detail, headers=headers))

    @app.exception_handler(InputError)
    async def _input(request: Request, exc: InputError) -> JSONResponse:
        count = len(exc.errors)
        detail = f"{count} bad record{'s' if count != 1 else ''}; nothing was written"
        return problem_response(request, Problem(422, detail, errors=record_errors(exc.errors)))

    @app.exception_handler(LedgerUnavailableError)
    async def _ledger(request: Request, exc: LedgerUnavailableError) -> JSONResponse:
        return problem_response(request, Problem(503, str(exc)))

    @app.exception_handler(ConfigError)
    async def _config(request: Request, exc: ConfigError) -> JSONResponse:
        return problem_response(request, Problem(400, str(exc)))

    @app.exception_handler(AdapterError)
    async def _adapter(request: Request, exc: AdapterError) -> JSONResponse:
        headers = {}
        if isinstance(exc, RateLimitedError) and exc.retry_after is not None:
            headers["Retry-After"] = str(max(1, int(exc.retry_after)))
        status = 503 if isinstance(exc, TransientError) else 502
        return problem_response(request, Problem(status, str(exc), headers=headers))

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> JSONResponse:
        busy = ledger_busy(exc)
        if busy is not None:
            return problem_response(request, Problem(503, busy, headers={"Retry-After": "5"}))
        get_logger().error(
            "api_internal_error",
            path=request.url.path,
            request_id=request_id_of(request),
            error=f"{type(exc).__name__}: {redact_text(str(exc))}",
        )
        detail = f"internal error: {type(exc).__name__} (request id {request_id_of(request)})"
        return problem_response(request, Problem(500, detail))
