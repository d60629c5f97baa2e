"""What the SDK tests share: a wire that records requests and injects faults, and model files."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx

Handler = Callable[[httpx.Request], httpx.Response]


def payload(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


@dataclass
class Fault:
    """Applies ``action`` to the next ``times`` requests that match ``method`` and end with ``path``."""

    action: Callable[[httpx.Request, Handler], httpx.Response]
    method: str | None = None
    path: str | None = None
    times: int = 1

    def matches(self, request: httpx.Request) -> bool:
        return (self.times > 0 and (self.method is None or request.method == self.method)
                and (self.path is None or request.url.path.endswith(self.path)))


class Wire(httpx.BaseTransport):
    """The client's transport to the app: records every request (``requests``) and applies the
    faults queued with :meth:`answer`, :meth:`fail`, :meth:`cut`, :meth:`corrupt`, :meth:`edit`."""

    def __init__(self, inner: httpx.BaseTransport):
        self.inner = inner
        self.requests: list[httpx.Request] = []
        self.faults: list[Fault] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        for fault in self.faults:
            if fault.matches(request):
                fault.times -= 1
                return fault.action(request, self.inner.handle_request)
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()

    def sent(self, method: str | None = None, path: str | None = None) -> list[httpx.Request]:
        """The requests sent, those of ``method`` whose path ends with ``path`` if given."""
        return [r for r in self.requests if (method is None or r.method == method)
                and (path is None or r.url.path.endswith(path))]

    # ---- faults ----------------------------------------------------------------------------

    def answer(self, status: int, *, json: Any = None, headers: dict[str, str] | None = None,
               method: str | None = None, path: str | None = None, times: int = 1) -> None:
        """Answer in place of the app (a proxy's 503, a rate limiter's 429)."""
        def action(request: httpx.Request, _forward: Handler) -> httpx.Response:  # the app is not asked
            return httpx.Response(status, json=json, headers=headers, request=request)

        self.faults.append(Fault(action, method, path, times))

    def fail(self, error: type[httpx.TransportError], *, after_sending: bool = False, method: str | None = None,
             path: str | None = None, times: int = 1) -> None:
        """Raise ``error``: before the request reaches the app, or (``after_sending``) once the
        app has handled it and its answer is lost."""
        def action(request: httpx.Request, forward: Handler) -> httpx.Response:
            if after_sending:
                response = forward(request)
                response.read()
                response.close()
            raise error("injected failure", request=request)

        self.faults.append(Fault(action, method, path, times))

    def cut(self, after: int, *, path: str = "/download", times: int = 1) -> None:
        """Break the connection once ``after`` bytes of the response body have arrived."""
        def action(request: httpx.Request, forward: Handler) -> httpx.Response:
            return _rebodied(forward(request), request, lambda chunks: _cut(chunks, after))

        self.faults.append(Fault(action, "GET", path, times))

    def corrupt(self, at: int, *, path: str = "/download", times: int = 1_000) -> None:
        """Flip the bits of the response body's byte number ``at`` (every matching response)."""
        def action(request: httpx.Request, forward: Handler) -> httpx.Response:
            return _rebodied(forward(request), request, lambda chunks: _flip(chunks, at))

        self.faults.append(Fault(action, "GET", path, times))

    def edit(self, change: Callable[[httpx.Request], None], *, method: str | None = None,
             path: str | None = None, times: int = 1) -> None:
        """Change the request before it is forwarded (drop a header, …)."""
        def action(request: httpx.Request, forward: Handler) -> httpx.Response:
            change(request)
            return forward(request)

        self.faults.append(Fault(action, method, path, times))


class _Body(httpx.SyncByteStream):
    def __init__(self, chunks: Iterator[bytes], original: httpx.Response):
        self.chunks = chunks
        self.original = original

    def __iter__(self) -> Iterator[bytes]:
        yield from self.chunks

    def close(self) -> None:
        self.original.close()


def _rebodied(response: httpx.Response, request: httpx.Request,
              change: Callable[[Iterator[bytes]], Iterator[bytes]]) -> httpx.Response:
    if response.status_code not in (200, 206):
        return response
    chunks = change(iter(response.stream))  # type: ignore[arg-type]
    return httpx.Response(response.status_code, headers=response.headers, stream=_Body(chunks, response),
                          request=request)


def _cut(chunks: Iterator[bytes], after: int) -> Iterator[bytes]:
    sent = 0
    for chunk in chunks:
        if sent + len(chunk) >= after:
            yield chunk[:after - sent]
            raise httpx.ReadError("connection reset by peer (injected)")
        sent += len(chunk)
        yield chunk


def _flip(chunks: Iterator[bytes], at: int) -> Iterator[bytes]:
    seen = 0
    for chunk in chunks:
        out = chunk
        if seen <= at < seen + len(chunk):
            data = bytearray(chunk)
            data[at - seen] ^= 0xFF
            out = bytes(data)
        seen += len(chunk)
        yield out
