"""The SDK's exception tree: the server's error answers turned back into exceptions.

Every error the server sends has one JSON shape, ``{"success": false, "error": <message>,
"code": <machine code>, "details": {...}, "request_id": ...}``, and a status; the class is picked
by the code first (a few codes name a class of their own), then by the status::

    ModelServiceError            message, status, code, details, request_id
    ├── BadRequest               400  malformed id, JSON, multipart, filter or sort
    ├── Unauthorized             401  no API key, or one unknown, expired or revoked
    ├── Forbidden                403  the key lacks the scope, or the name is outside its prefix
    ├── NotFound                 404  no such version, name, alias or file
    ├── Conflict                 409  the file is already uploaded; an alias is not where expected
    ├── PayloadTooLarge          413  a body or file over the server's limit
    ├── RangeNotSatisfiable      416  a Range outside the file
    ├── Unprocessable            422  well-formed but breaks a rule (name, metrics, tags, …)
    ├── RateLimited              429  ``retry_after`` says when to come back
    ├── ServiceUnavailable       503  a backend of the server is down or full
    ├── ServerError              500 and other 5xx
    ├── ChecksumMismatch         the bytes do not hash to the checksum they should: a download
    │                            the SDK refused (status None), or an upload the server refused (422)
    └── TransportError           the server could not be reached, or the connection broke,
                                 and retrying did not help (status None)

Any other status (405, 415, …) raises :class:`ModelServiceError` itself.
"""

from __future__ import annotations

import contextlib
import time
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

REQUEST_ID_HEADER = "X-Request-ID"


class ModelServiceError(Exception):
    """An operation failed. ``status`` is the HTTP status (None if no answer came), ``code`` the
    server's machine code (``model_not_found``, ``file_exists``, …), ``details`` its details and
    ``request_id`` the id to look the request up in the server's logs."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None,
                 details: dict[str, Any] | None = None, request_id: str | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.details = details or {}
        self.request_id = request_id

    def __str__(self) -> str:
        where = f" (request {self.request_id})" if self.request_id else ""
        code = f"[{self.code}] " if self.code else ""
        return f"{code}{self.message}{where}"

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.message!r}, status={self.status!r}, code={self.code!r}, "
                f"request_id={self.request_id!r})")


class BadRequest(ModelServiceError):
    """400: the server could not parse the request."""


class Unauthorized(ModelServiceError):
    """401: no API key was sent, or the one sent is unknown, expired or revoked."""


class Forbidden(ModelServiceError):
    """403: the API key may not do this (scope, or a name outside its prefix)."""


class NotFound(ModelServiceError):
    """404: no such model version, name, alias or file."""


class Conflict(ModelServiceError):
    """409: the current state forbids it (the file is already uploaded, an alias has moved)."""


class PayloadTooLarge(ModelServiceError):
    """413: the body or file is over the server's limit (``details["max_size_bytes"]``)."""


class RangeNotSatisfiable(ModelServiceError):
    """416: the requested byte range lies outside the file."""


class Unprocessable(ModelServiceError):
    """422: the request is well-formed but breaks a rule (``details`` says which)."""


class RateLimited(ModelServiceError):
    """429: too many requests. ``retry_after`` is the wait in seconds the server asked for (or
    None); the SDK has already waited and retried as far as its retry policy allows."""

    @property
    def retry_after(self) -> float | None:
        value = self.details.get("retry_after")
        return float(value) if isinstance(value, int | float) else None


class ServiceUnavailable(ModelServiceError):
    """503: a backend of the server is unavailable or full."""


class ServerError(ModelServiceError):
    """500 or another 5xx: the server failed; ``request_id`` finds the failure in its log."""


class ChecksumMismatch(ModelServiceError):
    """The bytes are not the ones the checksum names. Raised by the SDK when a download does not
    hash to the server's ``X-File-Checksum`` (nothing is left on disk), and for the server's 422
    ``checksum_mismatch`` when an upload arrived altered (nothing is kept)."""


class TransportError(ModelServiceError):
    """No answer: the connection could not be made, timed out or broke, on every attempt the
    retry policy allowed. ``__cause__`` is the underlying ``httpx`` error."""


_BY_STATUS: dict[int, type[ModelServiceError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    416: RangeNotSatisfiable,
    422: Unprocessable,
    429: RateLimited,
    503: ServiceUnavailable,
}

# Codes whose class says more than their status does.
_BY_CODE: dict[str, type[ModelServiceError]] = {
    "checksum_mismatch": ChecksumMismatch,
    "rate_limited": RateLimited,
}


def error_class(status: int, code: str | None) -> type[ModelServiceError]:
    if code in _BY_CODE:
        return _BY_CODE[code]
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    return ServerError if status >= 500 else ModelServiceError


def error_from_response(response: httpx.Response) -> ModelServiceError:
    """The exception for an error answer. The body must have been read. An answer that is not
    in the API's error shape (a proxy's HTML page, say) still gets the class of its status, with
    the start of its text as the message."""
    body: Any = None
    with contextlib.suppress(ValueError, UnicodeDecodeError):  # not JSON: the status and text tell
        body = response.json()
    request_id = response.headers.get(REQUEST_ID_HEADER)
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        message = body["error"]
        code = body.get("code") if isinstance(body.get("code"), str) else None
        sent = body.get("details")
        details: dict[str, Any] = dict(sent) if isinstance(sent, dict) else {}
        request_id = request_id or body.get("request_id")
    else:
        text = response.text.strip()[:200]
        message = f"HTTP {response.status_code} {response.reason_phrase}" + (f": {text}" if text else "")
        code, details = None, {}
    if response.status_code == 429 and "retry_after" not in details:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if retry_after is not None:
            details["retry_after"] = retry_after
    cls = error_class(response.status_code, code)
    return cls(message, status=response.status_code, code=code, details=details, request_id=request_id)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` in seconds: delta-seconds or an HTTP date (RFC 9110); None if absent or
    unreadable. ``now`` (seconds since the epoch) is for the date form."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000": UTC, without saying where the sender is
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def unexpected_answer(response: httpx.Response, what: str) -> ModelServiceError:
    """A success status whose body is not what the API documents (not the service, or a proxy)."""
    return ModelServiceError(f"Unexpected answer to {response.request.method} {response.request.url.path}: {what}",
                             status=response.status_code, code="unexpected_response",
                             request_id=response.headers.get(REQUEST_ID_HEADER))


__all__ = [
    "BadRequest",
    "ChecksumMismatch",
    "Conflict",
    "Forbidden",
    "ModelServiceError",
    "NotFound",
    "PayloadTooLarge",
    "RangeNotSatisfiable",
    "RateLimited",
    "ServerError",
    "ServiceUnavailable",
    "TransportError",
    "Unauthorized",
    "Unprocessable",
    "error_from_response",
    "parse_retry_after",
]
