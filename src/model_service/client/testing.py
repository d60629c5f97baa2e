"""Run the client against an ASGI application in the same process: no socket, no server.

Public because it serves users as much as this project's tests: code that uses the SDK can be
tested against a real service built in-process (``create_app`` on a temporary ``DATA_DIR``)::

    from model_service.client import ModelServiceClient
    from model_service.client.testing import ASGITransport

    with ModelServiceClient("http://testserver", transport=ASGITransport(app)) as client:
        client.register_model({"name": "demo", "algorithm": "xgboost"})

``httpx.ASGITransport`` would do, but it is async-only (the client is synchronous) and holds a
whole response in memory before returning it. This transport runs the application on an event
loop in a background thread and streams both ways with back-pressure, the way a server would: the
request body is read as the application asks for it, and response chunks are handed over as the
client reads them, a few at a time. The application's lifespan (start-up and shut-down) runs
when the transport is created and closed (closing the client closes its transport).

It imports the standard library and httpx only, like the rest of the SDK.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from typing import Any
from urllib.parse import unquote

import httpx

Message = MutableMapping[str, Any]
ASGIApp = Callable[[MutableMapping[str, Any], Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
                   Awaitable[None]]

_BACKLOG = 8  # response chunks that may wait for the client before the application is held back
_DEFAULT_PORTS = {"http": 80, "https": 443}


class ASGITransport(httpx.BaseTransport):
    """An ``httpx`` transport that sends every request to ``app`` in-process.

    ``client`` is the peer address the application sees. ``lifespan=False`` skips the
    application's start-up and shut-down. With ``raise_app_exceptions`` (the default) an
    exception the application raises before it answers is raised to the caller; an exception
    in the middle of a response is a broken connection (``httpx.RemoteProtocolError``), as over
    a network."""

    def __init__(self, app: ASGIApp, *, lifespan: bool = True, client: tuple[str, int] = ("127.0.0.1", 50000),
                 root_path: str = "", raise_app_exceptions: bool = True):
        self.app = app
        self.client = client
        self.root_path = root_path
        self.raise_app_exceptions = raise_app_exceptions
        self._state: dict[str, Any] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="asgi-transport", daemon=True)
        self._thread.start()
        self._lifespan: _Lifespan | None = None
        self._closed = False
        if lifespan:
            self._lifespan = _Lifespan(app, self._state)
            try:
                self._run(self._lifespan.startup())
            except BaseException:
                self._stop_loop()
                raise

    def _run(self, coroutine: Awaitable[Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()  # type: ignore[arg-type]

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self._closed:
            raise RuntimeError("The transport is closed")
        exchange = _Exchange(request, self._loop)
        asyncio.run_coroutine_threadsafe(exchange.serve(self.app, self._scope(request)), self._loop)
        event = exchange.next_event()
        if event[0] == "start":
            _, status, headers = event
            return httpx.Response(status, headers=headers, stream=_ResponseStream(exchange), request=request)
        exchange.close()
        if event[0] == "error":
            if self.raise_app_exceptions:
                raise event[1]
            return httpx.Response(500, text="Internal Server Error", request=request)
        raise RuntimeError("The application finished without sending a response")

    def _scope(self, request: httpx.Request) -> dict[str, Any]:
        url = request.url
        return {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": request.method,
            "scheme": url.scheme,
            "path": unquote(url.path),
            "raw_path": url.raw_path.split(b"?", 1)[0],
            "query_string": url.query,
            "root_path": self.root_path,
            "headers": [(name.lower(), value) for name, value in request.headers.raw],
            "client": self.client,
            "server": (url.host, url.port or _DEFAULT_PORTS.get(url.scheme, 80)),
            "state": dict(self._state),
        }

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if self._lifespan is not None:
                self._run(self._lifespan.shutdown())
        finally:
            self._stop_loop()

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()


class _Lifespan:
    """The application's ``lifespan`` protocol: start-up before the first request, shut-down at close."""

    def __init__(self, app: ASGIApp, state: dict[str, Any]):
        self.app = app
        self.state = state
        self.task: asyncio.Task[None] | None = None
        self.inbox: asyncio.Queue[Message] | None = None
        self.outbox: asyncio.Queue[Message] | None = None

    async def startup(self) -> None:
        self.inbox, self.outbox = asyncio.Queue(), asyncio.Queue()
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": self.state}
        self.task = asyncio.get_running_loop().create_task(self._run(scope, self.inbox, self.outbox))
        await self._exchange("startup")

    async def shutdown(self) -> None:
        if self.task is not None and not self.task.done():
            await self._exchange("shutdown")
            await self.task

    async def _run(self, scope: dict[str, Any], inbox: asyncio.Queue[Message], outbox: asyncio.Queue[Message]) -> None:
        """The application's lifespan call, as a coroutine (a task runs coroutines; an ASGI
        application returns any awaitable)."""
        await self.app(scope, inbox.get, outbox.put)

    async def _exchange(self, phase: str) -> None:
        assert self.inbox is not None and self.outbox is not None and self.task is not None
        await self.inbox.put({"type": f"lifespan.{phase}"})
        answer = asyncio.ensure_future(self.outbox.get())
        await asyncio.wait({answer, self.task}, return_when=asyncio.FIRST_COMPLETED)
        if not answer.done():
            answer.cancel()
            self.task.result()  # the application failed: raise its error
            return  # it does not speak the lifespan protocol: nothing to run
        message = answer.result()
        if message["type"] == f"lifespan.{phase}.failed":
            raise RuntimeError(f"Application {phase} failed: {message.get('message', '')}")


class _Exchange:
    """One request and its response, between the caller's thread and the event loop's."""

    def __init__(self, request: httpx.Request, loop: asyncio.AbstractEventLoop):
        self.request = request
        self.loop = loop
        self.events: queue.Queue[tuple[Any, ...]] = queue.Queue(maxsize=_BACKLOG)
        self.closed = threading.Event()
        self.body: Iterator[bytes] = iter(request.stream)  # type: ignore[arg-type]
        self.body_done = False
        self.ended = False
        self.response_done: asyncio.Event | None = None

    # ---- the event loop's side --------------------------------------------------------------

    async def serve(self, app: ASGIApp, scope: dict[str, Any]) -> None:
        self.response_done = asyncio.Event()
        try:
            await app(scope, self.receive, self.send)
        except BaseException as exc:  # handed to the caller: raised there
            if not self.ended:
                await self._put(("error", exc))
        else:
            if not self.ended:
                await self._put(("end",))
        finally:
            self.response_done.set()

    async def receive(self) -> Message:
        if not self.body_done:
            chunk = await self.loop.run_in_executor(None, next, self.body, None)  # the caller's file, read off-loop
            if chunk is not None:
                return {"type": "http.request", "body": bytes(chunk), "more_body": True}
            self.body_done = True
            return {"type": "http.request", "body": b"", "more_body": False}
        assert self.response_done is not None
        await self.response_done.wait()  # the connection stays open until the response is done
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            await self._put(("start", message["status"], list(message.get("headers", []))))
        elif message["type"] == "http.response.body":
            body = message.get("body", b"")
            if body:
                await self._put(("body", bytes(body)))
            if not message.get("more_body", False):
                self.ended = True
                await self._put(("end",))
                assert self.response_done is not None
                self.response_done.set()

    async def _put(self, event: tuple[Any, ...]) -> None:
        if not self.closed.is_set():
            await self.loop.run_in_executor(None, self._put_blocking, event)

    def _put_blocking(self, event: tuple[Any, ...]) -> None:
        while not self.closed.is_set():
            try:
                self.events.put(event, timeout=0.05)
                return
            except queue.Full:
                continue

    # ---- the caller's side -----------------------------------------------------------------

    def next_event(self) -> tuple[Any, ...]:
        return self.events.get()

    def close(self) -> None:
        """The client is done with the response (read or abandoned): the application sees a disconnect."""
        if self.closed.is_set():
            return
        self.closed.set()
        if self.response_done is not None:
            self.loop.call_soon_threadsafe(self.response_done.set)
        while True:  # unblock a producer waiting on a full queue
            try:
                self.events.get_nowait()
            except queue.Empty:
                break


class _ResponseStream(httpx.SyncByteStream):
    def __init__(self, exchange: _Exchange):
        self.exchange = exchange

    def __iter__(self) -> Iterator[bytes]:
        while not self.exchange.closed.is_set():
            event = self.exchange.next_event()
            if event[0] == "body":
                yield event[1]
            elif event[0] == "end":
                return
            elif event[0] == "error":
                raise httpx.RemoteProtocolError(f"The application failed mid-response: {event[1]!r}") from event[1]

    def close(self) -> None:
        self.exchange.close()
