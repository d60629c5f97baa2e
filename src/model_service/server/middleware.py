"""Pure-ASGI middleware (no per-request task or body copy): request ids, the last-resort 500,
per-request telemetry, and request body limits. Errors answer in the API's one error shape."""

from __future__ import annotations

import itertools
import logging
import os
import re
import time
from collections.abc import Callable

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import error_body
from .logs import REQUEST_ID

log = logging.getLogger("model_service.server")

_SAFE_ID = re.compile(rb"[A-Za-z0-9._:-]{1,64}")


def _request_ids():
    """Unique ids, cheaply: a random per-process prefix and a counter (made anew after fork)."""
    pid, prefix, counter = None, b"", itertools.count()
    while True:
        if os.getpid() != pid:
            pid, prefix, counter = os.getpid(), os.urandom(11).hex().encode(), itertools.count(1)
        yield b"%s%010x" % (prefix, next(counter))


_ids = _request_ids()


class RequestIdMiddleware:
    """Gives every request an id (the client's ``X-Request-ID`` if it is sane), kept in
    ``scope["state"]["request_id"]`` and echoed in the response header and error bodies.

    It is also the last resort: an exception nothing else handled becomes a logged 500 in the
    error shape (with the id), instead of a bare text page.

    And, in the same pass, the request's telemetry: the id is the :data:`~.logs.REQUEST_ID` of
    every record logged while the request is served, and once it is answered ``telemetry`` gets
    ``(scope, status, seconds, bytes_out, request_id)`` (metrics and the access line). The status
    of a request the client abandoned before any answer is 499.
    """

    def __init__(self, app: ASGIApp, *, telemetry: Callable[[Scope, int, float, int, str], None] | None = None):
        self.app = app
        self.telemetry = telemetry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _client_request_id(scope) or next(_ids)
        request_id_text = request_id.decode()
        scope.setdefault("state", {})["request_id"] = request_id_text
        begun = time.perf_counter()
        token = REQUEST_ID.set(request_id_text)
        answer = _Answer(send, (b"x-request-id", request_id))
        try:
            await self.app(scope, receive, answer.send)
        except Exception:
            log.exception("Unhandled error in %s %s", scope["method"], scope["path"],
                          extra={"request_id": request_id_text})
            if answer.started:
                raise  # the response is half sent: let the server drop the connection
            body = error_body(None, "Internal server error", "internal_error")
            body["request_id"] = request_id_text
            await JSONResponse(body, status_code=500)(scope, receive, answer.send)
        except BaseException:
            if not answer.started:
                answer.status = 499  # cancelled: the client went away before any answer
            raise
        finally:
            self._record(scope, answer, time.perf_counter() - begun, request_id_text)
            REQUEST_ID.reset(token)

    def _record(self, scope: Scope, answer: _Answer, seconds: float, request_id: str) -> None:
        if self.telemetry is None:
            return
        try:
            self.telemetry(scope, answer.status or 500, seconds, answer.bytes_out, request_id)
        except Exception:  # telemetry must never turn an answer into an error
            log.exception("Could not record the telemetry of %s %s", scope["method"], scope["path"])


def _client_request_id(scope: Scope) -> bytes | None:
    """The client's ``X-Request-ID``, if it is sane (else one is made)."""
    for name, value in scope["headers"]:
        if name == b"x-request-id" and _SAFE_ID.fullmatch(value):
            return value
    return None


class _Answer:
    """The response as it goes out through :meth:`send`: whether it has begun, its status and
    the body bytes sent so far; its start carries the request id header."""

    __slots__ = ("_send", "bytes_out", "header", "started", "status")

    def __init__(self, send: Send, header: tuple[bytes, bytes]):
        self._send = send
        self.header = header
        self.started = False
        self.status = 0
        self.bytes_out = 0

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.body":
            self.bytes_out += len(message.get("body", b""))
        elif message["type"] == "http.response.start":
            self.started = True
            self.status = message["status"]
            message["headers"] = [*message.get("headers", ()), self.header]
        await self._send(message)


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when a body outgrows its limit (FastAPI lets HTTPExceptions
    raised while it reads a body through unchanged, so the error handlers render it)."""

    def __init__(self, limit: int, code: str):
        super().__init__(status_code=413, detail=f"Request body exceeds the limit of {limit} bytes")
        self.code = code
        self.limit = limit


class BodyLimitMiddleware:
    """Bounds every request body: ``limit`` bytes, or ``upload_limit`` for the requests that
    ``is_upload`` recognises and that do not send JSON (there, the file itself is bounded,
    exactly, as it streams in).

    A declared ``Content-Length`` over the limit is answered at once, before the application
    runs; a body that grows past it while streaming fails on the read that crosses it.
    """

    def __init__(self, app: ASGIApp, *, limit: int, upload_limit: int, is_upload: Callable[[Scope], bool]):
        self.app = app
        self.limit = limit
        self.upload_limit = upload_limit
        self.is_upload = is_upload

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            await self.app(scope, receive, send)
            return
        upload = self.is_upload(scope) and not _is_json(scope)
        limit = self.upload_limit if upload else self.limit
        code = "file_too_large" if upload else "request_too_large"
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            body = error_body(None, f"Request body of {declared} bytes exceeds the limit of {limit} bytes", code,
                              {"max_size_bytes": limit, "content_length": declared})
            body["request_id"] = scope.get("state", {}).get("request_id")
            await JSONResponse(body, status_code=413, headers={"Connection": "close"})(scope, receive, send)
            return
        received = 0

        async def bounded_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit, code)
            return message

        await self.app(scope, bounded_receive, send)


def _is_json(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-type":
            media = value.split(b";", 1)[0].strip().lower()
            return media == b"application/json" or media.endswith(b"+json")
    return False


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None
