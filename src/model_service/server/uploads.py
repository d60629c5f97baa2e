"""Request bodies in: JSON documents (bounded), raw file bodies and multipart forms (streamed).

File bytes never accumulate: they are batched into ~1 MiB writes that a worker thread hashes
and stores while the next batch is being received, so memory per upload stays at a few MiB
whatever the file size.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ValidationError
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, MultipartState, parse_options_header
from starlette.requests import ClientDisconnect, Request

from ..domain.errors import Invalid, Malformed, TooLarge, UnsupportedMediaType
from ..domain.incoming import IncomingFile, file_too_large

BATCH_SIZE = 1 << 20


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


class FileSink:
    """Async front of an :class:`IncomingFile`, with at most one batch write in flight.

    The upload is begun lazily from the worker thread (starting one may be a network call on
    remote blob stores); ``expected_sha256`` may be set until :meth:`finish`.
    """

    def __init__(self, begin: Callable[[], IncomingFile], *, max_size: int, expected_sha256: str | None = None,
                 batch_size: int = BATCH_SIZE):
        self._begin = begin
        self.max_size = max_size
        self.expected_sha256 = expected_sha256
        self.batch_size = batch_size
        self.incoming: IncomingFile | None = None
        self._buffer: list[bytes] = []
        self._buffered = 0
        self._pending: asyncio.Future | None = None
        self.received = 0

    async def write(self, data: bytes) -> None:
        self.received += len(data)
        if self.received > self.max_size:  # fail as the bytes arrive, not a batch later
            raise file_too_large(self.max_size)
        self._buffer.append(data)
        self._buffered += len(data)
        if self._buffered >= self.batch_size:
            await self._submit()

    def _incoming(self) -> IncomingFile:
        if self.incoming is None:
            self.incoming = self._begin()
        return self.incoming

    def _write(self, batch: bytes) -> None:
        self._incoming().write(batch)

    def _finish(self) -> IncomingFile:
        incoming = self._incoming()
        if incoming.size == 0:
            raise Invalid("The file is empty", code="empty_file")
        incoming.expected_sha256 = self.expected_sha256
        incoming.finish()
        return incoming

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

    async def finish(self) -> IncomingFile:
        """Write what is buffered, verify the checksum, make the bytes durable."""
        await self._submit()
        await self._wait()
        return await asyncio.get_running_loop().run_in_executor(None, self._finish)

    async def abort(self) -> None:
        """Wait for the write in flight (it owns the file descriptor), then discard everything."""
        if self._pending is not None:
            pending, self._pending = self._pending, None
            await asyncio.gather(pending, return_exceptions=True)
        if self.incoming is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.incoming.abort)


async def stream_body_into(request: Request, sink: FileSink) -> None:
    try:
        async for chunk in request.stream():
            if chunk:
                await sink.write(chunk)
    except ClientDisconnect:
        raise Malformed("The client disconnected before the upload finished", code="upload_incomplete") from None


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


def validate_as(schema: type[BaseModel], document: Any, what: str = "body") -> BaseModel:
    """Validate a parsed JSON document, with the same error shape as FastAPI's own bodies."""
    try:
        return schema.model_validate(document)
    except ValidationError as exc:
        problems = [{"field": ".".join(str(p) for p in e["loc"]) or what, "message": e["msg"], "type": e["type"]}
                    for e in exc.errors()]
        summary = "; ".join(f"{p['field']}: {p['message']}" for p in problems[:5])
        raise Invalid(f"Invalid {what}: {summary}", code="validation_error", details={"errors": problems}) from None


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
        open_file: Callable[[str | None, str | None], FileSink],
    ):
        self.request = request
        self.fields = fields
        self.field_limit = field_limit
        self.on_field = on_field
        self.open_file = open_file
        self.sink: FileSink | None = None
        self.file_count = 0

    async def run(self) -> None:
        _, options = parse_options_header(self.request.headers.get("content-type", ""))
        boundary = options.get(b"boundary")
        if not boundary:
            raise Malformed("multipart/form-data without a boundary", code="invalid_multipart")

        headers: list[tuple[bytes, bytes]] = []
        header_field = bytearray()
        header_value = bytearray()
        current: dict[str, Any] = {}
        finished_fields: list[tuple[str, bytes]] = []
        file_chunks: list[bytes] = []

        def on_part_begin() -> None:
            headers.clear()
            current.clear()

        def on_header_field(data: bytes, start: int, end: int) -> None:
            header_field.extend(data[start:end])

        def on_header_value(data: bytes, start: int, end: int) -> None:
            header_value.extend(data[start:end])

        def on_header_end() -> None:
            headers.append((bytes(header_field).lower(), bytes(header_value)))
            header_field.clear()
            header_value.clear()

        def on_headers_finished() -> None:
            disposition = dict(headers).get(b"content-disposition")
            _, params = parse_options_header(disposition)
            name = params.get(b"name", b"").decode("utf-8", "replace")
            if name == "file":
                self.file_count += 1
                if self.file_count > 1:
                    raise Invalid("Send exactly one part named 'file'", code="invalid_multipart")
                filename = params.get(b"filename")
                content_type = dict(headers).get(b"content-type")
                current.update(kind="file")
                self.sink = self.open_file(
                    None if filename is None else filename.decode("utf-8", "replace"),
                    None if content_type is None else content_type.decode("latin-1"),
                )
            elif name in self.fields:
                current.update(kind="field", name=name, value=bytearray())
            else:
                allowed = ", ".join(sorted({"file", *self.fields}))
                raise Invalid(f"Unexpected form part '{name}': this endpoint takes {allowed}",
                              code="invalid_multipart", details={"part": name[:100]})

        def on_part_data(data: bytes, start: int, end: int) -> None:
            if current.get("kind") == "file":
                file_chunks.append(data[start:end])
            else:
                value: bytearray = current["value"]
                value.extend(data[start:end])
                if len(value) > self.field_limit:
                    raise TooLarge(f"Form field '{current['name']}' exceeds {self.field_limit} bytes",
                                   code="request_too_large", details={"max_size_bytes": self.field_limit})

        def on_part_end() -> None:
            if current.get("kind") == "field":
                finished_fields.append((current["name"], bytes(current["value"])))

        parser = MultipartParser(boundary, {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
        })
        try:
            async for chunk in self.request.stream():
                parser.write(chunk)
                for name, value in finished_fields:
                    self.on_field(name, value)
                finished_fields.clear()
                if file_chunks:
                    for piece in file_chunks:
                        await self.sink.write(piece)
                    file_chunks.clear()
        except MultipartParseError as exc:
            raise Malformed(f"Malformed multipart body: {exc}", code="invalid_multipart") from None
        except ClientDisconnect:
            raise Malformed("The client disconnected before the upload finished", code="upload_incomplete") from None
        if parser.state != MultipartState.END:
            raise Malformed("The multipart body ended before its closing boundary", code="invalid_multipart")


def require_media_type(request: Request, allowed: tuple[str, ...]) -> str:
    kind = media_type(request) or "application/json"
    if kind not in allowed and not (kind.endswith("+json") and "application/json" in allowed):
        raise UnsupportedMediaType(f"Content-Type '{kind}' is not accepted here: send {' or '.join(allowed)}",
                                   details={"content_type": kind[:100], "accepted": list(allowed)})
    return kind
