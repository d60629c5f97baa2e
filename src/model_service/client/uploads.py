"""Files out: request bodies that stream a model file from disk in chunks.

Memory stays at one chunk whatever the file's size. When the source can be read twice (a path,
or a seekable file object) it is first hashed in a streaming pass, so that the server can verify
the bytes it receives (``X-File-Checksum``) and refuse them, keeping nothing, if they arrive
altered; and the body can be sent again if the connection fails before it was sent.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from .session import Body

CHUNK_SIZE = 1 << 20
_CHECKSUM = re.compile(r"(?:sha256:)?([0-9a-fA-F]{64})")

Progress = Callable[[int, int | None], None]
Source = str | os.PathLike[str] | IO[bytes]


@dataclass
class FileSource:
    """A file to send: how to read it from its start, how long it is, what it is called."""

    reader: Callable[[], IO[bytes]]  # positioned at the start; closed by whoever called it, if owned
    owned: bool  # opened by us (a path): closed after each pass
    size: int | None
    filename: str | None
    rewindable: bool

    def chunks(self, progress: Progress | None = None) -> Iterator[bytes]:
        """The file's bytes, one chunk at a time, with ``progress(done, total)`` after each."""
        file = self.reader()
        done = 0
        try:
            if progress is not None:
                progress(0, self.size)
            while True:
                chunk = file.read(CHUNK_SIZE)
                if not chunk:
                    break
                if not isinstance(chunk, bytes | bytearray | memoryview):
                    raise TypeError("The file object must be opened in binary mode ('rb')")
                done += len(chunk)
                yield bytes(chunk)
                if progress is not None:
                    progress(done, self.size)
        finally:
            if self.owned:
                file.close()

    def sha256(self) -> str:
        """``sha256:<hex>`` of the file, read in one streaming pass."""
        digest = hashlib.sha256()
        for chunk in self.chunks():
            digest.update(chunk)
        return f"sha256:{digest.hexdigest()}"


def file_source(source: Source, filename: str | None = None) -> FileSource:
    """A path, or a binary file object (read from its current position; read again only if it is
    seekable)."""
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"No such file: {path}")
        return FileSource(reader=lambda: open(path, "rb"), owned=True, size=path.stat().st_size,
                          filename=filename or path.name, rewindable=True)
    if not hasattr(source, "read"):
        raise TypeError(f"Upload a path or a binary file object, not {type(source).__name__}")
    if isinstance(source, io.TextIOBase):
        raise TypeError("The file object must be opened in binary mode ('rb')")
    seekable = _seekable(source)
    start = source.tell() if seekable else 0
    size = None
    if seekable:
        end = source.seek(0, os.SEEK_END)
        source.seek(start)
        size = end - start

    def reader() -> IO[bytes]:
        if seekable:
            source.seek(start)
        return source

    name = filename or _name_of(source)
    return FileSource(reader=reader, owned=False, size=size, filename=name, rewindable=seekable)


def _seekable(file: Any) -> bool:
    try:
        return bool(file.seekable())
    except (AttributeError, OSError, ValueError):
        return False


def _name_of(file: Any) -> str | None:
    name = getattr(file, "name", None)
    return os.path.basename(name) if isinstance(name, str) and name and not name.startswith("<") else None


def normalize_checksum(value: str) -> str:
    """``sha256:<hex>`` (or the bare hex digest) → ``sha256:<lowercase hex>``."""
    match = _CHECKSUM.fullmatch(value.strip()) if isinstance(value, str) else None
    if not match:
        raise ValueError(f"{value!r} is not a sha256 checksum ('sha256:' and 64 hexadecimal digits)")
    return f"sha256:{match.group(1).lower()}"


def checksum_for(file: FileSource, checksum: bool | str | None) -> str | None:
    """The checksum to send: the one given, or (``True``) the file's own when it can be read twice."""
    if isinstance(checksum, str):
        return normalize_checksum(checksum)
    if checksum and file.rewindable:
        return file.sha256()
    return None


def raw_body(file: FileSource, *, checksum: str | None, progress: Progress | None) -> Body:
    """The file as the whole request body."""
    headers = {"Content-Type": "application/octet-stream"}
    if file.size is not None:
        headers["Content-Length"] = str(file.size)  # lets the server refuse an oversized file at once
    if checksum:
        headers["X-File-Checksum"] = checksum
    return Body(open=lambda: file.chunks(progress), headers=headers, rewindable=file.rewindable)


def multipart_body(metadata: dict[str, Any], file: FileSource, *, checksum: str | None,
                   progress: Progress | None) -> Body:
    """``multipart/form-data`` with the ``metadata`` part (JSON) first, so the server checks it
    before it stores any byte of the ``file`` part that follows."""
    boundary = secrets.token_hex(16)
    document = json.dumps(metadata, ensure_ascii=False, allow_nan=False).encode("utf-8")
    filename = _quoted(file.filename or "model.bin")
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"metadata\"\r\n"
            f"Content-Type: application/json\r\n\r\n").encode() + document + (
            f"\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    if file.size is not None:
        headers["Content-Length"] = str(len(head) + file.size + len(tail))
    if checksum:
        headers["X-File-Checksum"] = checksum

    def parts() -> Iterator[bytes]:
        yield head
        yield from file.chunks(progress)
        yield tail

    return Body(open=parts, headers=headers, rewindable=file.rewindable)


def _quoted(name: str) -> str:
    """A filename inside a quoted header parameter (as browsers write it: HTML's form encoding)."""
    return name.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")
