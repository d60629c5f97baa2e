"""File bytes in, streamed: a raw request body or a multipart form's ``file`` part fed into an
:class:`~..domain.uploads.Upload`.

File bytes never accumulate: they are batched into ~1 MiB writes that a worker thread hashes
and stores while the next batch is being received, so memory per upload stays at a few MiB
whatever the file size. A body that stops arriving is given up after ``UPLOAD_IDLE_TIMEOUT``
(:func:`idle_limited`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, MultipartState, parse_options_header
from starlette.requests import ClientDisconnect, Request
from starlette.types import Message

from ..domain.errors import Invalid, Malformed, RequestTimeout, TooLarge
from ..domain.uploads import Upload, file_too_large

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks  # a TypedDict that exists for type checkers only

BATCH_SIZE = 1 << 20

log = logging.getLogger("model_service.server")


class AsyncUpload:
    """The async face of an :class:`~..domain.uploads.Upload`: the bytes are batched as they
    arrive and each batch is written from a worker thread, at most one write in flight.

    The upload itself is begun lazily, from the worker thread (starting one may be a network
    call on remote blob stores). What the client says of the file — ``filename``,
    ``content_type``, ``format`` and the checksum it expects — may be set until :meth:`finish`,
    which hands it to the upload.
    """

    def __init__(self, begin: Callable[[], Upload], *, max_size: int, expected_sha256: str | None = None,
                 filename: str | None = None, content_type: str | None = None, batch_size: int = BATCH_SIZE):
        self._begin = begin
        self.max_size = max_size
        self.expected_sha256 = expected_sha256
        self.filename = filename
        self.content_type = content_type
        self.format: str | None = None
        self.batch_size = batch_size
        self.upload: Upload | None = None
        self._buffer: list[bytes] = []
        self._buffered = 0
        self._pending: asyncio.Future[None] | None = None
        self.received = 0

    async def write(self, data: bytes) -> None:
        self.received += len(data)
        if self.received > self.max_size:  # fail as the bytes arrive, not a batch later
            raise file_too_large(self.max_size)
        self._buffer.append(data)
        self._buffered += len(data)
        if self._buffered >= self.batch_size:
            await self._submit()

    def _upload(self) -> Upload:
        if self.upload is None:
            self.upload = self._begin()
        return self.upload

    def _write(self, batch: bytes) -> None:
        self._upload().write(batch)

    def _finish(self) -> Upload:
        upload = self._upload()
        if upload.size == 0:
            raise Invalid("The file is empty", code="empty_file")
        upload.expected_sha256 = self.expected_sha256
        upload.filename, upload.content_type, upload.format = self.filename, self.content_type, self.format
        upload.finish()
        return upload

    async def _submit(self) -> None:
        batch = self._buffer[0] if len(self._buffer) == 1 else b"".join(self._buffer)
        self._buffer, self._buffered = [], 0
        await self._wait()
        if batch:
            self._pending = asyncio.get_running_loop().run_in_executor(None, self._write, batch)

    async def _wait(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            await pending

    async def finish(self) -> Upload:
        """Write what is buffered, verify the checksum, make the bytes durable."""
        await self._submit()
        await self._wait()
        return await asyncio.get_running_loop().run_in_executor(None, self._finish)

    async def abort(self) -> None:
        """Wait for the write in flight (it owns the file descriptor), then discard everything."""
        if self._pending is not None:
            pending, self._pending = self._pending, None
            await asyncio.gather(pending, return_exceptions=True)
        if self.upload is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.upload.abort)


def idle_limited(request: Request, seconds: float) -> Request:
    """``request`` as an upload reads it: when no byte of its body arrives for ``seconds`` (the
    client went quiet mid-upload, or never started), the read raises :class:`RequestTimeout`
    ``upload_idle`` (408), so that whoever streams the body aborts the upload and removes its
    temporary bytes instead of holding them, and the connection, forever. The clock runs only
    while the server waits for the client: time spent storing what has arrived does not count."""
    receive = request.receive
    received = 0

    async def limited() -> Message:
        nonlocal received
        timeout = asyncio.timeout(seconds)
        try:
            async with timeout:
                message = await receive()
        except TimeoutError:
            if not timeout.expired():
                raise
            log.warning("Upload aborted: no byte of its body for %g s after %d bytes (UPLOAD_IDLE_TIMEOUT)",
                        seconds, received)
            raise RequestTimeout(f"No byte of the upload arrived for {seconds:g} s (UPLOAD_IDLE_TIMEOUT): it was "
                                 "aborted and nothing was stored", code="upload_idle",
                                 details={"idle_timeout_seconds": seconds, "bytes_received": received}) from None
        received += len(message.get("body", b""))
        return message

    return Request(request.scope, limited)


async def stream_body_into(request: Request, sink: AsyncUpload) -> None:
    try:
        async for chunk in request.stream():
            if chunk:
                await sink.write(chunk)
    except ClientDisconnect:
        raise Malformed("The client disconnected before the upload finished", code="upload_incomplete") from None


class MultipartForm:
    """Streams a ``multipart/form-data`` body through python-multipart.

    Small fields are collected (each at most ``field_limit`` bytes) and handed to ``on_field``
    as soon as they end, so metadata sent before the file is validated before any file byte is
    stored. The part named ``file`` is streamed into the sink that ``open_file(filename,
    content_type)`` returns. Parts with other names are rejected.
    """

    def __init__(
        self,
        request: Request,
        *,
        fields: frozenset[str],
        field_limit: int,
        on_field: Callable[[str, bytes], None],
        open_file: Callable[[str | None, str | None], AsyncUpload],
    ):
        self.request = request
        self.fields = fields
        self.field_limit = field_limit
        self.on_field = on_field
        self.open_file = open_file

    async def run(self) -> None:
        _, options = parse_options_header(self.request.headers.get("content-type", ""))
        boundary = options.get(b"boundary")
        if not boundary:
            raise Malformed("multipart/form-data without a boundary", code="invalid_multipart")
        parts = _FormParts(self)
        parser = MultipartParser(boundary, parts.callbacks())
        try:
            async for chunk in self.request.stream():
                parser.write(chunk)
                await parts.hand_on()
        except MultipartParseError as exc:
            raise Malformed(f"Malformed multipart body: {exc}", code="invalid_multipart") from None
        except ClientDisconnect:
            raise Malformed("The client disconnected before the upload finished", code="upload_incomplete") from None
        if parser.state != MultipartState.END:
            raise Malformed("The multipart body ended before its closing boundary", code="invalid_multipart")


class _FormParts:
    """One form as python-multipart's callbacks see it: the headers of the part being read, which
    part it is (the file or a field, named in its Content-Disposition), and what the last chunk
    finished (fields) or carried (file bytes). The callbacks are synchronous; :meth:`hand_on`,
    awaited after each chunk, passes that on (the file's bytes are written asynchronously)."""

    def __init__(self, form: MultipartForm):
        self.form = form
        self.headers: list[tuple[bytes, bytes]] = []
        self.header_field = bytearray()
        self.header_value = bytearray()
        self.kind: str | None = None  # of the part being read: "file" or "field"
        self.name = ""  # a field's
        self.value = bytearray()  # a field's, so far
        self.finished_fields: list[tuple[str, bytes]] = []
        self.file_chunks: list[bytes] = []
        self.sink: AsyncUpload | None = None  # the file's, once its part has begun
        self.file_count = 0

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self.on_part_begin,
            "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
        }

    async def hand_on(self) -> None:
        """The fields that ended go to ``on_field``, then the file's bytes to its sink."""
        for name, value in self.finished_fields:
            self.form.on_field(name, value)
        self.finished_fields.clear()
        if self.sink is not None:  # file bytes are only gathered once the file part has opened it
            for piece in self.file_chunks:
                await self.sink.write(piece)
        self.file_chunks.clear()

    def on_part_begin(self) -> None:
        self.headers.clear()
        self.kind = None

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_field.extend(data[start:end])

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value.extend(data[start:end])

    def on_header_end(self) -> None:
        self.headers.append((bytes(self.header_field).lower(), bytes(self.header_value)))
        self.header_field.clear()
        self.header_value.clear()

    def on_headers_finished(self) -> None:
        headers = dict(self.headers)
        _, params = parse_options_header(headers.get(b"content-disposition"))
        name = params.get(b"name", b"").decode("utf-8", "replace")
        if name == "file":
            self._open_file(params.get(b"filename"), headers.get(b"content-type"))
        elif name in self.form.fields:
            self.kind, self.name, self.value = "field", name, bytearray()
        else:
            allowed = ", ".join(sorted({"file", *self.form.fields}))
            raise Invalid(f"Unexpected form part '{name}': this endpoint takes {allowed}",
                          code="invalid_multipart", details={"part": name[:100]})

    def _open_file(self, filename: bytes | None, content_type: bytes | None) -> None:
        self.file_count += 1
        if self.file_count > 1:
            raise Invalid("Send exactly one part named 'file'", code="invalid_multipart")
        self.kind = "file"
        self.sink = self.form.open_file(
            None if filename is None else filename.decode("utf-8", "replace"),
            None if content_type is None else content_type.decode("latin-1"),
        )

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.kind == "file":
            self.file_chunks.append(data[start:end])
            return
        self.value.extend(data[start:end])
        if len(self.value) > self.form.field_limit:
            raise TooLarge(f"Form field '{self.name}' exceeds {self.form.field_limit} bytes",
                           code="request_too_large", details={"max_size_bytes": self.form.field_limit})

    def on_part_end(self) -> None:
        if self.kind == "field":
            self.finished_fields.append((self.name, bytes(self.value)))
