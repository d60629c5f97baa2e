"""Request bodies in: their declared type and length checked, and JSON documents read (bounded)
and parsed strictly. File bodies are not read here: they stream (``uploads.py``)."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import ClientDisconnect, Request

from ..domain.errors import Invalid, Malformed, TooLarge, UnsupportedMediaType

ModelT = TypeVar("ModelT", bound=BaseModel)


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def content_length(request: Request) -> int | None:
    value = request.headers.get("content-length")
    return int(value) if value is not None and value.isdigit() else None


def ensure_length_at_most(request: Request, limit: int, code: str = "request_too_large") -> None:
    """Refuse a declared Content-Length over ``limit`` before reading anything."""
    length = content_length(request)
    if length is not None and length > limit:
        raise TooLarge(f"Request body of {length} bytes exceeds the limit of {limit} bytes", code=code,
                       details={"max_size_bytes": limit, "content_length": length})


def require_media_type(request: Request, allowed: tuple[str, ...]) -> str:
    kind = media_type(request) or "application/json"
    if kind not in allowed and not (kind.endswith("+json") and "application/json" in allowed):
        raise UnsupportedMediaType(f"Content-Type '{kind}' is not accepted here: send {' or '.join(allowed)}",
                                   details={"content_type": kind[:100], "accepted": list(allowed)})
    return kind


async def read_json(request: Request, limit: int) -> Any:
    ensure_length_at_most(request, limit)
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise TooLarge(f"Request body exceeds the limit of {limit} bytes", code="request_too_large",
                               details={"max_size_bytes": limit})
    except ClientDisconnect:
        raise Malformed("The client disconnected before the body was sent", code="upload_incomplete") from None
    return parse_json(bytes(body))


def parse_json(body: bytes, what: str = "body") -> Any:
    """A JSON document in UTF-8 (RFC 8259), every string of it valid Unicode.

    Python's parser lets through what no store or response can encode again: bytes that are
    not UTF-8 (it guesses UTF-16/32 and passes encoded surrogates) and ``\\ud800``-style
    escapes of half a surrogate pair. Both are refused here, once, for every JSON body.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Malformed(f"The JSON {what} is not UTF-8: invalid byte at position {exc.start}",
                        code="invalid_json", details={"position": exc.start}) from None
    if not text.strip():
        raise Malformed(f"The JSON {what} is empty", code="invalid_json")
    try:
        document = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise Malformed(f"Malformed JSON {what}: {str(exc)[:200]}", code="invalid_json") from None
    if "\\u" in text and _has_lone_surrogate(document):
        raise Malformed(f"The JSON {what} has a \\u escape of half a surrogate pair, which is not a character",
                        code="invalid_json")
    return document


def _has_lone_surrogate(value: Any) -> bool:
    """Whether any string (key or value) holds an unpaired surrogate: only those fail to encode."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(item, dict):
            pending.extend(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


def _reject_constant(name: str) -> None:
    """``NaN`` and ``Infinity`` are not JSON (RFC 8259); Python's parser accepts them by default."""
    raise ValueError(f"{name} is not a JSON value")


def validate_as(schema: type[ModelT], document: Any, what: str = "body") -> ModelT:
    """Validate a parsed JSON document, with the same error shape as FastAPI's own bodies."""
    try:
        return schema.model_validate(document)
    except ValidationError as exc:
        problems = [{"field": ".".join(str(p) for p in e["loc"]) or what, "message": e["msg"], "type": e["type"]}
                    for e in exc.errors()]
        summary = "; ".join(f"{p['field']}: {p['message']}" for p in problems[:5])
        raise Invalid(f"Invalid {what}: {summary}", code="validation_error", details={"errors": problems}) from None
