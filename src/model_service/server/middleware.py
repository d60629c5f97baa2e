"""Pure-ASGI middleware (no per-request task or body copy): request ids."""

from __future__ import annotations

import re
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_SAFE_ID = re.compile(rb"[A-Za-z0-9._:-]{1,64}")


class RequestIdMiddleware:
    """Gives every request an id (the client's ``X-Request-ID`` if it is sane), kept in
    ``scope["state"]["request_id"]``, echoed in the response header and in error bodies."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = None
        for name, value in scope["headers"]:
            if name == b"x-request-id" and _SAFE_ID.fullmatch(value):
                request_id = value
                break
        if request_id is None:
            request_id = uuid.uuid4().hex.encode()
        scope.setdefault("state", {})["request_id"] = request_id.decode()
        header = (b"x-request-id", request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        await self.app(scope, receive, send_with_id)
