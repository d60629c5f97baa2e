"""Files in, as the upload-capable endpoints receive them: a raw body, or a multipart form with
fields; what the client says of the file (its name and type) cleaned before it is kept."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

from starlette.requests import Request

from ..config import Settings
from ..domain.formats import normalize_format
from ..domain.registry import Registry
from ..domain.uploads import Upload, parse_checksum
from .bodies import ensure_length_at_most
from .metrics import upload_started
from .uploads import AsyncUpload, MultipartForm, idle_limited, stream_body_into

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


MAX_FILENAME_LENGTH = 255
# Control characters, invisible formatting (bidi overrides that disguise an extension, zero-width
# characters), lone surrogates, and line and paragraph separators.
_UNPRINTABLE = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def clean_filename(name: str | None) -> str | None:
    """What is kept of a client's filename: its last path component (``../../etc/passwd`` is
    ``passwd``, ``C:\\models\\m.pkl`` is ``m.pkl``), without unprintable characters, at most
    :data:`MAX_FILENAME_LENGTH` characters with its extension kept; ``.``, ``..`` or nothing left
    is no name. It is only ever metadata (files are stored by their sha256, never by name)."""
    if not name:
        return None
    name = re.split(r"[/\\]", unicodedata.normalize("NFC", name))[-1]
    name = "".join(c for c in name if unicodedata.category(c) not in _UNPRINTABLE).strip()
    if name in ("", ".", ".."):
        return None
    if len(name) > MAX_FILENAME_LENGTH:
        stem, dot, extension = name.rpartition(".")
        keep = dot and 0 < len(extension) <= 16
        name = stem[:MAX_FILENAME_LENGTH - len(extension) - 1] + "." + extension if keep else name[:MAX_FILENAME_LENGTH]
    return name


def clean_content_type(value: str | None) -> str | None:
    if not value:
        return None
    value = _CONTROL.sub("", value).strip()
    return value[:255] or None


def _sink(registry: Registry, expected: str | None, *, filename: str | None = None,
          content_type: str | None = None) -> AsyncUpload:
    """A sink for the file about to stream in; its bytes start arriving now (the raw body is
    read next, the multipart ``file`` part's headers have just ended), so the upload's time
    (``model_upload_duration_seconds``, up to the commit) starts here too."""
    upload_started()
    return AsyncUpload(registry.begin_upload, max_size=registry.max_file_size, expected_sha256=expected,
                       filename=filename, content_type=content_type)


async def receive_raw(request: Request, registry: Registry, settings: Settings, *, filename: str | None,
                      fmt: str | None, checksum: str | None) -> Upload:
    """The whole request body is the file; ``checksum`` is the client's ``X-File-Checksum``. A
    body idle for ``UPLOAD_IDLE_TIMEOUT`` is given up (408 ``upload_idle``), nothing kept."""
    ensure_length_at_most(request, registry.max_file_size, "file_too_large")
    request = idle_limited(request, settings.upload_idle_timeout)
    expected = parse_checksum(checksum)
    sink = _sink(registry, expected, filename=clean_filename(filename),
                 content_type=clean_content_type(request.headers.get("content-type")))
    sink.format = None if fmt is None else normalize_format(fmt)
    try:
        await stream_body_into(request, sink)
        return await sink.finish()
    except BaseException:
        await sink.abort()
        raise


async def receive_form(
    request: Request,
    registry: Registry,
    settings: Settings,
    *,
    fields: dict[str, Callable[[bytes], None]],
) -> Upload | None:
    """A multipart body: ``fields`` (name → handler, called as soon as the field ends) and an
    optional part named ``file``. Handles the ``format`` and ``checksum`` fields itself if they
    are listed (``X-File-Checksum`` works as well). A body idle for ``UPLOAD_IDLE_TIMEOUT`` is
    given up (408 ``upload_idle``), nothing kept."""
    ensure_length_at_most(request, registry.max_file_size + settings.max_request_size, "file_too_large")
    request = idle_limited(request, settings.upload_idle_timeout)
    expected = parse_checksum(request.headers.get("x-file-checksum"))
    sink: AsyncUpload | None = None
    options: dict[str, str] = {}

    def open_file(filename: str | None, content_type: str | None) -> AsyncUpload:
        nonlocal sink
        sink = _sink(registry, expected, filename=clean_filename(filename),
                     content_type=clean_content_type(content_type))
        return sink

    def on_field(name: str, value: bytes) -> None:
        text = value.decode("utf-8", "replace").strip()
        if name == "format":
            options["format"] = normalize_format(text)
        elif name == "checksum":
            options["checksum"] = parse_checksum(text) or ""
        else:
            fields[name](value)

    form = MultipartForm(request, fields=frozenset(fields) | {"format", "checksum"},
                         field_limit=settings.max_request_size, on_field=on_field, open_file=open_file)
    try:
        await form.run()
        if sink is None:
            return None
        if options.get("checksum"):
            sink.expected_sha256 = options["checksum"]
        sink.format = options.get("format")
        return await sink.finish()
    except BaseException:
        if sink is not None:
            await sink.abort()
        raise
