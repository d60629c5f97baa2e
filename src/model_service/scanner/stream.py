"""Reading a pickle stream forwards: its bytes (:class:`Source`) and its opcodes' arguments
(:func:`argument`, decoded with :mod:`pickletools`' descriptors), within bounds: payloads above
:data:`BIG` bytes are stepped over, not read; text arguments are at most :data:`MAX_LINE` bytes.
A stream that fails or ends early is :class:`Unreadable`.
"""

from __future__ import annotations

import io
import lzma
import pickletools
import struct
import zipfile
import zlib
from dataclasses import dataclass
from typing import Any, Protocol

BIG = 1 << 16  # payloads larger than this are skipped, not read
MAX_LINE = 1 << 16  # text arguments (protocol 0) longer than this are not a model's
SKIP_CHUNK = 1 << 20


class BinaryStream(Protocol):
    """What the reader reads: a binary file, an in-memory buffer, a zip member, a decompressor."""

    def read(self, size: int = -1, /) -> bytes: ...

    def readline(self, size: int = -1, /) -> bytes: ...

    def seek(self, offset: int, whence: int = io.SEEK_SET, /) -> int: ...

    def tell(self) -> int: ...


class Unreadable(Exception):
    """The bytes are not a well-formed pickle stream (or not one this reader follows)."""


@dataclass(frozen=True, slots=True)
class Big:
    """A payload stepped over: only its size is known."""

    size: int


# What a stream may raise while it is read (a decompressor or a zip member finding its data
# corrupt or cut short): the stream is unreadable from there on.
STREAM_ERRORS = (OSError, EOFError, ValueError, zlib.error, lzma.LZMAError, zipfile.BadZipFile)


class Source:
    """Reads a binary stream forwards: exact reads, skips (a seek on a plain file, reading and
    discarding on a decompressing one), bounded lines, and a look at whether it has ended. A
    failure of the stream itself is :class:`Unreadable`."""

    def __init__(self, stream: BinaryStream):
        self.stream = stream
        self.pos = 0
        self._size: int | None = None
        if _plain(stream):
            self.pos = stream.tell()
            self._size = stream.seek(0, io.SEEK_END)
            stream.seek(self.pos)
        self._pushback = b""

    def _read(self, n: int) -> bytes:
        try:
            return self.stream.read(n)
        except STREAM_ERRORS as exc:
            raise Unreadable(f"the stream fails at byte {self.pos}: {exc}") from None

    def read(self, n: int) -> bytes:
        data, self._pushback = self._pushback[:n], self._pushback[n:]
        if len(data) < n:
            data += self._read(n - len(data))
        if len(data) != n:
            raise Unreadable(f"the stream ends early (at byte {self.pos + len(data)}, {n - len(data)} bytes short)")
        self.pos += n
        return data

    def skip(self, n: int) -> None:
        if n < 0:
            raise Unreadable(f"negative length at byte {self.pos}")
        if self._pushback:
            taken = min(n, len(self._pushback))
            self.read(taken)
            n -= taken
        if self._size is not None:
            if self.pos + n > self._size:
                raise Unreadable(f"the stream ends early (a {n}-byte payload at byte {self.pos})")
            self.stream.seek(n, io.SEEK_CUR)
            self.pos += n
            return
        while n:
            chunk = self._read(min(n, SKIP_CHUNK))
            if not chunk:
                raise Unreadable(f"the stream ends early (at byte {self.pos}, {n} bytes short)")
            n -= len(chunk)
            self.pos += len(chunk)

    def line(self) -> bytes:
        data, self._pushback = self._pushback, b""
        if not data.endswith(b"\n"):
            try:
                data += self.stream.readline(MAX_LINE + 1 - len(data))
            except STREAM_ERRORS as exc:
                raise Unreadable(f"the stream fails at byte {self.pos}: {exc}") from None
        if not data.endswith(b"\n"):
            raise Unreadable(f"unterminated or overlong text argument at byte {self.pos}")
        self.pos += len(data)
        return data

    def at_end(self) -> bool:
        if self._pushback:
            return False
        byte = self._read(1)
        if not byte:
            return True
        self._pushback = byte
        return False


def _plain(stream: BinaryStream) -> bool:
    """A file or an in-memory buffer, whose forward seeks are cheap and exact (not a
    decompressing or zip member reader, which seek by reading)."""
    if isinstance(stream, io.BufferedReader):
        return isinstance(stream.raw, io.FileIO)
    return isinstance(stream, io.FileIO | io.BytesIO)


# ---- argument decoding ---------------------------------------------------------------------------

_FIXED: dict[str, struct.Struct] = {
    "uint1": struct.Struct("<B"), "uint2": struct.Struct("<H"), "int4": struct.Struct("<i"),
    "uint4": struct.Struct("<I"), "uint8": struct.Struct("<Q"), "float8": struct.Struct(">d"),
}
_LENGTH: dict[int, struct.Struct] = {
    pickletools.TAKEN_FROM_ARGUMENT1: struct.Struct("<B"),
    pickletools.TAKEN_FROM_ARGUMENT4: struct.Struct("<i"),
    pickletools.TAKEN_FROM_ARGUMENT4U: struct.Struct("<I"),
    pickletools.TAKEN_FROM_ARGUMENT8U: struct.Struct("<Q"),
}


def argument(source: Source, descriptor: pickletools.ArgumentDescriptor) -> Any:
    """The argument an opcode with ``descriptor`` takes, read from ``source``; a payload above
    :data:`BIG` bytes is stepped over and comes back as :class:`Big`."""
    n = descriptor.n
    fixed = _FIXED.get(descriptor.name)
    if fixed is not None:
        return fixed.unpack(source.read(fixed.size))[0]
    if n == pickletools.UP_TO_NEWLINE:
        lines = source.line()
        if descriptor.name == "stringnl_noescape_pair":
            lines += source.line()
        return _decode(descriptor, lines)
    prefix_format = _LENGTH.get(n)
    if prefix_format is None:  # pragma: no cover - every descriptor is one of the above
        raise Unreadable(f"unsupported argument {descriptor.name}")
    prefix = source.read(prefix_format.size)
    length = prefix_format.unpack(prefix)[0]
    if length < 0:
        raise Unreadable(f"negative length at byte {source.pos}")
    if length > BIG:
        source.skip(length)
        return Big(length)
    return _decode(descriptor, prefix + source.read(length))


def _decode(descriptor: pickletools.ArgumentDescriptor, data: bytes) -> Any:
    try:
        return descriptor.reader(io.BytesIO(data))
    except (ValueError, UnicodeDecodeError) as exc:
        raise Unreadable(f"bad {descriptor.name} argument: {exc}") from None
