"""Streaming a model file: conditional requests, single ranges, HEAD, and download counting.

One ASGI response object does it all so that the file is read in large chunks from a worker
thread and written as the client drains it (memory stays at about one chunk per download), and
so that a download is counted only when its last byte has been handed to the connection.

Metrics (when the app has them): every file byte handed to the connection counts in
``model_download_sent_bytes_total``; a completed download's time from its first byte to its
last goes to ``model_download_duration_seconds``.
"""

from __future__ import annotations

import logging
import re
import time
import unicodedata
from collections.abc import Awaitable, Callable
from email.utils import format_datetime
from urllib.parse import quote

import anyio
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from ..domain.errors import RangeNotSatisfiable, RegistryError
from ..domain.formats import extension_for
from ..domain.models import ModelVersion
from ..domain.ports import BlobReader
from ..domain.scanning import NOT_RECORDED_RESULT
from .errors import error_response, status_for
from .metrics import ServiceMetrics

log = logging.getLogger(__name__)

_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """A single ``bytes=`` range → inclusive ``(start, end)``; None to send the whole file.

    Syntactically invalid or multi-range headers are ignored (RFC 9110 allows serving the whole
    representation); a well-formed range that lies outside the file raises 416.
    """
    if not header:
        return None
    match = _RANGE.fullmatch(header.strip())
    if not match or (not match.group(1) and not match.group(2)):
        return None
    first, last = match.group(1), match.group(2)
    if not first:  # suffix: the last N bytes
        length = int(last)
        if length == 0 or size == 0:
            raise _unsatisfiable(header, size)
        return max(size - length, 0), size - 1
    start = int(first)
    if last and int(last) < start:
        return None  # invalid: ignored
    if start >= size:
        raise _unsatisfiable(header, size)
    return start, min(int(last) if last else size - 1, size - 1)


def _unsatisfiable(header: str, size: int) -> RangeNotSatisfiable:
    return RangeNotSatisfiable(f"Range '{header}' lies outside the file of {size} bytes",
                               details={"range": header[:100], "size": size})


def _etag_matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    if header.strip() == "*":
        return True
    candidates = (tag.strip().removeprefix("W/") for tag in header.split(","))
    return etag in candidates


def header_value(text: str) -> bytes:
    """Any text as a header value that cannot break the header block: ASCII, with everything
    outside visible ASCII and space (CR, LF, NUL, other controls, non-ASCII) percent-encoded as
    UTF-8, and ``%`` itself too, so the value decodes back with ``unquote``."""
    return quote(text.encode("utf-8", "replace"), safe=" !#$&'()*+,-./:;<=>?@[]^_`{|}~").encode("ascii")


# What the quoted ``filename`` fallback keeps: visible ASCII but the quote, the backslash, ``%``
# (some browsers percent-decode this parameter) and path separators; everything else becomes ``_``.
_UNSAFE_FALLBACK = re.compile(r'[^\x20-\x7e]|["\\%/]')


def content_disposition(filename: str, disposition: str = "attachment") -> bytes:
    """A ``Content-Disposition`` header value for any filename (RFC 6266): an ASCII
    ``filename="…"`` for old clients, accents folded and anything unsafe replaced by ``_``,
    then the exact name as ``filename*=UTF-8''…`` (RFC 8187), percent-encoded."""
    folded = "".join(c for c in unicodedata.normalize("NFKD", filename) if not unicodedata.combining(c))
    fallback = _UNSAFE_FALLBACK.sub("_", folded).strip() or "download"
    encoded = quote(filename.encode("utf-8", "replace"), safe="")  # letters, digits and _.-~ stay as they are
    return f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{encoded}".encode("ascii")


def download_filename(model: ModelVersion) -> str:
    """The name a download is saved under: the model's name and its format's extension."""
    return model.name + extension_for(model.file.format if model.file else model.format)


class BlobResponse(Response):
    """A :class:`Response` only in type (FastAPI passes Responses through untouched): it renders
    itself in :meth:`__call__`."""

    def __init__(
        self,
        model: ModelVersion,
        open_reader: Callable[[int], BlobReader],
        request_headers: Headers,
        *,
        chunk_size: int,
        on_complete: Callable[[int, str | None], Awaitable[None]],
    ):
        assert model.file is not None
        self.background = None
        self.model = model
        self.file = model.file
        self.open_reader = open_reader
        self.chunk_size = chunk_size
        self.on_complete = on_complete
        self.etag = f'"{self.file.sha256}"'
        size = self.file.size_bytes
        self.range: tuple[int, int] | None = None
        if _etag_matches(request_headers.get("if-none-match"), self.etag):
            self.status = 304
        else:
            if_range = request_headers.get("if-range")
            if if_range is None or if_range.strip() == self.etag:
                self.range = parse_range(request_headers.get("range"), size)
            self.status = 206 if self.range else 200
        self.status_code = self.status

    def _header_list(self) -> list[tuple[bytes, bytes]]:
        file, model = self.file, self.model
        headers = [
            (b"etag", self.etag.encode()),
            (b"accept-ranges", b"bytes"),
            (b"x-file-checksum", file.checksum.encode()),
            (b"x-model-id", model.id.encode()),
            (b"x-model-algorithm", header_value(model.algorithm)),
            (b"x-model-version", header_value(str(model.version))),
            (b"x-model-scan", (file.scan or NOT_RECORDED_RESULT).verdict.value.encode()),
            (b"last-modified", format_datetime(file.uploaded_at, usegmt=True).encode()),
            (b"cache-control", b"no-cache"),
        ]
        if self.status == 304:
            return headers
        start, end = self.range or (0, file.size_bytes - 1)
        headers += [
            (b"content-type", b"application/octet-stream"),
            (b"content-disposition", content_disposition(download_filename(model))),
            (b"content-length", str(end - start + 1).encode()),
        ]
        if self.range:
            headers.append((b"content-range", f"bytes {start}-{end}/{file.size_bytes}".encode()))
        return headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.status == 304 or scope["method"] == "HEAD":
            await send({"type": "http.response.start", "status": self.status, "headers": self._header_list()})
            await send({"type": "http.response.body", "body": b""})
            return
        start, end = self.range or (0, self.file.size_bytes - 1)
        # Opened before the status line goes out, so that a store that cannot serve the blob
        # (unreachable, blob missing) answers with its error rather than a 200 cut short.
        try:
            reader = await anyio.to_thread.run_sync(self.open_reader, start)
        except RegistryError as exc:
            await _error_response(scope, exc)(scope, receive, send)
            return
        try:
            await self._send_file(scope, receive, send, reader, start, end)
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(reader.close)

    async def _send_file(self, scope: Scope, receive: Receive, send: Send, reader: BlobReader, start: int,
                         end: int) -> None:
        await send({"type": "http.response.start", "status": self.status, "headers": self._header_list()})
        self.sent_all = False
        self.sent_bytes = 0
        metrics = _metrics(scope)
        begun = time.perf_counter()

        try:
            async with anyio.create_task_group() as group:

                async def stream() -> None:
                    await self._stream(send, reader, start, end)
                    group.cancel_scope.cancel()

                group.start_soon(stream)
                while True:  # the client going away cancels the stream
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        break
                if not self.sent_all:  # else the disconnect only says the response is complete
                    group.cancel_scope.cancel()
        finally:
            if metrics is not None:
                metrics.download_sent(self.sent_bytes)

        if self.sent_all and end == self.file.size_bytes - 1:
            if metrics is not None:
                metrics.download_completed(time.perf_counter() - begun)
            byte_range = f"{start}-{end}" if self.range else None
            try:
                await self.on_complete(end - start + 1, byte_range)
            except Exception:  # the client has its bytes; a failed count must not turn into an error
                log.exception("Could not record the download of %s", self.model.id)

    async def _stream(self, send: Send, reader: BlobReader, start: int, end: int) -> None:
        remaining = end - start + 1
        if remaining == 0:
            await send({"type": "http.response.body", "body": b""})
        while remaining > 0:
            chunk = await anyio.to_thread.run_sync(reader.read, min(self.chunk_size, remaining))
            if not chunk:
                raise RuntimeError(f"Blob {self.file.sha256} ended {remaining} bytes early")
            remaining -= len(chunk)
            await send({"type": "http.response.body", "body": chunk, "more_body": remaining > 0})
            self.sent_bytes += len(chunk)
        self.sent_all = True


def _error_response(scope: Scope, exc: RegistryError) -> Response:
    """The error as every other endpoint renders it (server/errors.py)."""
    status = status_for(exc)
    if status >= 500:
        log.warning("%s: %s", exc.code, exc.message)
    return error_response(Request(scope), status, exc.message, exc.code, exc.details)


def _metrics(scope: Scope) -> ServiceMetrics | None:
    """The app's metrics (``app.state.metrics``), if it has any."""
    state = getattr(scope.get("app"), "state", None)
    return getattr(state, "metrics", None) if state is not None else None
