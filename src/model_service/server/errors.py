"""The one table from errors to HTTP, and the handlers that render every error the same way:
``{"success": false, "error": <message>, "code": <machine code>, "details": {...}, "request_id": …}``."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from ..domain import errors

log = logging.getLogger("model_service.server")

# Unexpected exceptions become a 500 in RequestIdMiddleware, the outermost layer, so that even
# they carry the request id.
STATUS_BY_ERROR: dict[type[errors.RegistryError], int] = {
    errors.InvalidId: 400,
    errors.Malformed: 400,
    errors.ChecksumMismatch: 422,
    errors.Invalid: 422,
    errors.Unauthorized: 401,
    errors.Forbidden: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.TooLarge: 413,
    errors.UnsupportedMediaType: 415,
    errors.RangeNotSatisfiable: 416,
    errors.RequestTimeout: 408,
    errors.RateLimited: 429,
    errors.Unavailable: 503,
}

CODE_BY_STATUS = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    408: "request_timeout",
    411: "length_required",
    413: "request_too_large",
    415: "unsupported_media_type",
    416: "range_not_satisfiable",
    422: "validation_error",
    429: "rate_limited",
    503: "unavailable",
}


def status_for(exc: errors.RegistryError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return 500


def error_body(request: Request | None, message: str, code: str, details: dict[str, Any] | None = None) -> dict:
    request_id = request.scope.get("state", {}).get("request_id") if request is not None else None
    return {"success": False, "error": message, "code": code, "details": details or {}, "request_id": request_id}


def error_response(request: Request | None, status: int, message: str, code: str,
                   details: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(request, message, code, details), status_code=status, headers=headers)


async def _registry_error(request: Request, exc: errors.RegistryError) -> JSONResponse:
    status = status_for(exc)
    if status >= 500:
        log.warning("%s: %s", exc.code, exc.message)
    headers = {"Content-Range": f"bytes */{exc.details['size']}"} if status == 416 and "size" in exc.details else None
    if status == 401:
        headers = {"WWW-Authenticate": www_authenticate(exc.code)}
    if status == 408:  # the rest of the body may still come: the connection cannot serve another request
        headers = {"Connection": "close"}
    return error_response(request, status, exc.message, exc.code, exc.details, headers)


def www_authenticate(code: str) -> str:
    """The challenge of a 401 (RFC 6750): a key was missing, or the one sent is not valid."""
    if code == "unauthenticated":
        return 'Bearer realm="model-service"'
    return 'Bearer realm="model-service", error="invalid_token"'


def _location(loc: tuple) -> str:
    return ".".join(str(part) for part in loc if part != "body") or "body"


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    problems = [{"field": _location(tuple(e.get("loc", ()))), "message": e.get("msg", ""), "type": e.get("type", "")}
                for e in exc.errors()]
    if any(p["type"] == "json_invalid" for p in problems):
        detail = next(e for e in exc.errors() if e.get("type") == "json_invalid")
        return error_response(request, 400, f"Malformed JSON body: {detail.get('ctx', {}).get('error', 'invalid')}",
                              "invalid_json", {"position": detail.get("loc", (None, None))[-1]})
    summary = "; ".join(f"{p['field']}: {p['message']}" for p in problems[:5])
    return error_response(request, 422, f"Invalid request: {summary}", "validation_error", {"errors": problems})


def _allowed_methods(request: Request) -> list[str]:
    """Every method the resource takes, over all the routes of its path template (Starlette names
    only the first route's). The resource is the first template that matches, in routing order:
    ``/models/compare`` is the comparison (GET), not a model whose id is ``compare``."""
    methods: set[str] = set()
    template = None
    for route in getattr(request.app.state, "api_routes", ()):
        if (template is None or route.path_format == template) and route.path_regex.match(request.url.path):
            template = route.path_format
            methods |= set(route.methods)
    return sorted(methods)


async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
    code = getattr(exc, "code", None) or CODE_BY_STATUS.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    headers = dict(getattr(exc, "headers", None) or {})
    details: dict[str, Any] = {}
    if exc.status_code == 404 and message == "Not Found":
        message = f"No such endpoint: {request.method} {request.url.path}"
    elif exc.status_code == 405:
        allowed = _allowed_methods(request)
        headers["Allow"] = ", ".join(allowed)
        message = f"{request.method} is not allowed here; use {', '.join(allowed)}"
        details = {"allowed": allowed}
    elif exc.status_code == 413 and hasattr(exc, "limit"):
        details = {"max_size_bytes": exc.limit}
    return error_response(request, exc.status_code, message, code, details, headers or None)


def install(app: FastAPI) -> None:
    # Starlette types a handler as taking any Exception, though it only ever passes it the class it
    # was registered for: a handler of one class does not fit that type (a Callable's argument is
    # contravariant), so each line would need a needless isinstance check to please mypy.
    app.add_exception_handler(errors.RegistryError, _registry_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _http_error)  # type: ignore[arg-type]
