"""The one exception tree of the registry.

Every error the core or a store raises is a :class:`RegistryError` subclass with a stable
machine ``code``; the HTTP layer maps classes to status codes in exactly one table
(``server/errors.py``) and the SDK maps the codes back to the same classes.

    RegistryError
    ├── Invalid              the request is well-formed but breaks a rule (bad name, bad field)
    │   ├── Malformed        the request cannot be parsed (broken JSON or multipart)
    │   ├── InvalidId        not a 24-hex ObjectId
    │   └── ChecksumMismatch the bytes received do not hash to the checksum the client sent
    ├── NotFound             no such model, version or file
    ├── Conflict             the state forbids it (file already uploaded, version taken)
    ├── TooLarge             a body or file exceeds its configured limit
    ├── UnsupportedMediaType a body of a type the endpoint does not take
    ├── RangeNotSatisfiable  a ``Range`` that lies outside the file
    ├── Unauthorized         no API key, or one that is unknown, expired or revoked
    ├── Forbidden            the key lacks the scope, or the name is outside its prefix
    ├── RateLimited          the client has used up its requests of the window
    ├── RequestTimeout       the client stopped sending a request body it had begun
    └── Unavailable          a backend cannot be reached or is out of space
"""

from __future__ import annotations

from typing import Any


class RegistryError(Exception):
    code = "registry_error"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or {}
        if code is not None:
            self.code = code


class Invalid(RegistryError):
    code = "invalid"


class Malformed(Invalid):
    code = "malformed_request"


class InvalidId(Invalid):
    code = "invalid_id"


class ChecksumMismatch(Invalid):
    code = "checksum_mismatch"


class NotFound(RegistryError):
    code = "not_found"


class Conflict(RegistryError):
    code = "conflict"


class TooLarge(RegistryError):
    code = "too_large"


class UnsupportedMediaType(RegistryError):
    code = "unsupported_media_type"


class RangeNotSatisfiable(RegistryError):
    code = "range_not_satisfiable"


class Unavailable(RegistryError):
    code = "unavailable"


class Unauthorized(RegistryError):
    code = "unauthenticated"


class Forbidden(RegistryError):
    code = "forbidden"


class RequestTimeout(RegistryError):
    """Raised by no store: the HTTP layer gives up on a request body that stopped arriving (an
    upload idle for ``UPLOAD_IDLE_TIMEOUT``: code ``upload_idle``)."""

    code = "request_timeout"


class RateLimited(RegistryError):
    """Raised by no store: the HTTP layer's rate limiter answers with it (``details`` says which
    limit and when to retry), and the SDK maps the code back to it."""

    code = "rate_limited"
