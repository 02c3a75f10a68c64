"""How errors look on the wire: always ``{"code", "detail"}`` (plus ``message_id`` when known), never a traceback.

The exceptions of :mod:`monitor.errors` say what went wrong; which HTTP status that is decides here, in
:data:`INGEST_STATUS`, so the rest of the service never thinks in status codes.
"""

from __future__ import annotations

import redis.exceptions
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.routing import compile_path

from monitor.errors import (
    ConversationEndedError,
    IngestError,
    OverloadedError,
    RateLimitedError,
    UnknownConversationError,
)
from monitor.ingest import describe_errors

log = structlog.get_logger("api")

#: Errors that mean Redis cannot be reached right now (down, restarting, loading its data): the request may
#: well succeed shortly, so they are answered 503 ``unavailable`` with ``Retry-After``, not 500.
REDIS_UNAVAILABLE: tuple[type[Exception], ...] = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
#: Seconds a client is asked to wait before retrying during an outage (a restart usually takes about that).
UNAVAILABLE_RETRY_AFTER_S = 1
UNAVAILABLE_DETAIL = "the service's Redis is unreachable right now; retry shortly"

#: The HTTP status of each kind of ingest error; a subclass answers as its nearest listed ancestor.
INGEST_STATUS: dict[type[IngestError], int] = {
    IngestError: 422,
    UnknownConversationError: 404,
    ConversationEndedError: 409,
    OverloadedError: 503,  # backpressure: retry shortly
    RateLimitedError: 429,  # with Retry-After (monitor/api/auth.py)
}


def status_for(exc: IngestError) -> int:
    """The status of ``exc``'s nearest class in :data:`INGEST_STATUS` (``QueueFull`` answers as ``OverloadedError``)."""
    for cls in type(exc).__mro__:
        if cls in INGEST_STATUS:
            return INGEST_STATUS[cls]
    return INGEST_STATUS[IngestError]


#: The documented ``code`` of an HTTP error raised by a route or by the framework. A 422 raised by a route
#: means a field's value was refused (e.g. a key's role without its agent id): the same as a validation error.
_HTTP_CODES = {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed", 422: "invalid_event"}


def _allowed_methods(request: Request) -> list[str]:
    """Every method the OpenAPI document gives for the request's path (HEAD wherever GET is served)."""
    methods: set[str] = set()
    for template, operations in request.app.openapi()["paths"].items():
        pattern, _, _ = compile_path(template)
        if pattern.match(request.url.path):
            methods |= {method.upper() for method in operations}
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


class ErrorBody(BaseModel):
    code: str
    detail: str
    message_id: str | None = None


def error_response(status: int, code: str, detail: str, message_id: str | None = None) -> JSONResponse:
    body = ErrorBody(code=code, detail=detail, message_id=message_id)
    return JSONResponse(body.model_dump(exclude_none=True), status_code=status)


def install_error_handlers(app: FastAPI) -> None:
    async def on_ingest_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, IngestError)
        request.app.state.runtime.metrics.ingest_errors.labels(code=exc.code).inc()
        return error_response(status_for(exc), exc.code, exc.detail, exc.message_id)

    async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = exc.errors()
        content_type = request.headers.get("content-type", "")
        if any(e.get("type") == "json_invalid" for e in errors):
            code, detail = "invalid_json", "the body is not valid JSON (or not UTF-8)"
        elif "json" not in content_type.lower() and any(tuple(e.get("loc", ())) == ("body",) for e in errors):
            # Without a JSON content type FastAPI hands the model the raw bytes ("Input should be a valid
            # dictionary"): say what is actually wrong.
            sent = f"Content-Type {content_type!r}" if content_type else "no Content-Type"
            code, detail = "invalid_json", f"the body must be JSON sent with Content-Type: application/json ({sent})"
        else:
            code, detail = "invalid_event", describe_errors(errors, skip=1)
        request.app.state.runtime.metrics.ingest_errors.labels(code=code).inc()
        return error_response(422, code, detail)

    async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 400 and "parsing the body" in str(exc.detail):
            # FastAPI's answer to a body that is not UTF-8: same code and status as any other undecodable body.
            request.app.state.runtime.metrics.ingest_errors.labels(code="invalid_json").inc()
            return error_response(422, "invalid_json", "the body is not valid JSON (or not UTF-8)")
        code = _HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
        response = error_response(exc.status_code, code, str(exc.detail))
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        if exc.status_code == 405:
            # Starlette names only the methods of the first route that matched the path; a path served by
            # several routes (GET and POST /v1/conversations) must list them all (RFC 9110, 15.5.6).
            response.headers["Allow"] = ", ".join(_allowed_methods(request))
        return response

    async def on_redis_unavailable(request: Request, exc: Exception) -> JSONResponse:
        log.warning("redis unavailable; answered 503", path=request.url.path, error=str(exc))
        response = error_response(503, "unavailable", UNAVAILABLE_DETAIL)
        response.headers["Retry-After"] = str(UNAVAILABLE_RETRY_AFTER_S)
        return response

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Starlette still logs the traceback (and re-raises for the server); the client gets the documented shape.
        return error_response(500, "internal_error", "the request could not be processed")

    app.add_exception_handler(IngestError, on_ingest_error)
    for unavailable in REDIS_UNAVAILABLE:
        app.add_exception_handler(unavailable, on_redis_unavailable)
    app.add_exception_handler(Exception, on_unexpected)
    app.add_exception_handler(HTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)


__all__ = [
    "INGEST_STATUS",
    "REDIS_UNAVAILABLE",
    "UNAVAILABLE_DETAIL",
    "UNAVAILABLE_RETRY_AFTER_S",
    "ErrorBody",
    "error_response",
    "install_error_handlers",
    "status_for",
]
