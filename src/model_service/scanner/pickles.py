"""A static reader of pickle streams: the imports a pickle would make, found without loading it.

It decodes opcodes one by one (with :mod:`pickletools`' opcode table) and follows the pickle
machine's stack and memo symbolically — strings, numbers, containers and "an object made by
calling X" — so that ``STACK_GLOBAL`` is resolved from the values really on the stack, not from
the opcodes just before it. Nothing is ever imported, constructed or called.

Beyond a plain disassembly (what picklescan does):

* A stream that does not parse to the end (truncated, corrupt) is :class:`Unreadable`, with the
  imports found before the failure still reported: a scan that could not finish is never clean.
* joblib writes each numpy array's raw bytes into the middle of the pickle stream, right after
  the ``NumpyArrayWrapper`` that describes it. The reader works out the array's size from the
  wrapper's shape and dtype and steps over the bytes, so a whole scikit-learn model is read
  (a disassembler stops at the first array). As ``pickle.load`` would read those bytes as
  opcodes instead, a file with such arrays is read a second time that way too: an import either
  loader would make is reported.
* Payloads above :data:`BIG` bytes (arrays pickled as ``bytes``, long strings) are stepped over,
  not read into memory, so memory stays small whatever the file size.
"""

from __future__ import annotations

import io
import lzma
import math
import pickletools
import re
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

BIG = 1 << 16  # payloads larger than this are skipped, not read
MAX_LINE = 1 << 16  # text arguments (protocol 0) longer than this are not a model's
MAX_GLOBALS = 1000  # distinct imports reported at most
MAX_ITEMS = 256  # container items kept (only small containers matter: shapes, dtypes, wrapper states)
SKIP_CHUNK = 1 << 20

UNKNOWN_GLOBAL = ("unknown", "unknown")
"""An import whose module or name is computed (not a plain string): reported as dangerous."""

JOBLIB_WRAPPER = ("joblib.numpy_pickle", "NumpyArrayWrapper")


class Unreadable(Exception):
    """The bytes are not a well-formed pickle stream (or not one this reader follows)."""


@dataclass(frozen=True, slots=True)
class Big:
    """A payload stepped over: only its size is known."""

    size: int


@dataclass(frozen=True, slots=True)
class Global:
    module: str
    name: str


class Obj:
    """What calling (REDUCE, NEWOBJ, OBJ, INST) ``callable`` with ``args`` would make; ``state``
    is what BUILD gives it."""

    __slots__ = ("callable", "args", "state")

    def __init__(self, callable_: Any, args: Any):
        self.callable = callable_
        self.args = args
        self.state: Any = None


class _Unknown:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<unknown>"


UNKNOWN = _Unknown()


# What a stream may raise while it is read (a decompressor or a zip member finding its data
# corrupt or cut short): the stream is unreadable from there on.
STREAM_ERRORS = (OSError, EOFError, ValueError, zlib.error, lzma.LZMAError, zipfile.BadZipFile)


class Source:
    """Reads a binary stream forwards: exact reads, skips (a seek on a plain file, reading and
    discarding on a decompressing one), bounded lines, and a look at whether it has ended. A
    failure of the stream itself is :class:`Unreadable`."""

    def __init__(self, stream: IO[bytes]):
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


def _plain(stream: IO[bytes]) -> bool:
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


def _argument(source: Source, descriptor: pickletools.ArgumentDescriptor) -> Any:
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


# ---- numpy arrays written by joblib ------------------------------------------------------------------

_TYPESTR = re.compile(r"[<>|=]?([a-zA-Z])(\d*)")


def _dtype(value: Any) -> tuple[int, bool]:
    """``(itemsize, holds_objects)`` of a pickled ``numpy.dtype``."""
    if not (isinstance(value, Obj) and isinstance(value.callable, Global)
            and value.callable.module.split(".")[0] == "numpy" and value.callable.name == "dtype"
            and isinstance(value.args, tuple) and value.args and isinstance(value.args[0], str)):
        raise Unreadable("a joblib array without a dtype the reader understands")
    match = _TYPESTR.fullmatch(value.args[0])
    if not match:
        raise Unreadable(f"unknown numpy type {value.args[0][:20]!r}")
    kind, digits = match.group(1), match.group(2)
    state = value.state if isinstance(value.state, tuple) else ()
    fields = state[4] if len(state) > 4 else None
    holds_objects = kind == "O"
    if isinstance(fields, dict):
        for field in fields.values():
            if not isinstance(field, tuple) or not field:
                raise Unreadable("a structured numpy type the reader does not follow")
            holds_objects = holds_objects or _dtype(field[0])[1]
    elif fields is not None:
        raise Unreadable("a structured numpy type the reader does not follow")
    if len(state) > 2 and state[2] is not None:
        raise Unreadable("numpy sub-array types are not followed")
    size = state[5] if len(state) > 5 and isinstance(state[5], int) and state[5] > 0 else None
    if size is None:
        if not digits:
            raise Unreadable(f"numpy type {value.args[0][:20]!r} without a size")
        size = int(digits)
    return size, holds_objects


def _array_bytes(wrapper: Obj) -> tuple[int | None, int | None]:
    """``(byte count, alignment)`` of the raw array that follows a joblib wrapper; byte count None:
    an array of Python objects, pickled in place."""
    state = wrapper.state
    if not isinstance(state, dict):
        raise Unreadable("a joblib array wrapper without its state")
    shape = state.get("shape")
    if not isinstance(shape, tuple) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0
                                               for d in shape):
        raise Unreadable("a joblib array with a shape the reader does not understand")
    itemsize, holds_objects = _dtype(state.get("dtype"))
    if holds_objects:
        return None, None
    alignment = state.get("numpy_array_alignment_bytes")
    if alignment is not None and (not isinstance(alignment, int) or not 0 < alignment <= 255):
        raise Unreadable("a joblib array with an unusual alignment")
    return math.prod(shape) * itemsize, alignment


# ---- the machine -------------------------------------------------------------------------------------

class _Mark:
    __slots__ = ()


class PickleReader:
    """Reads pickles from ``source``, collecting the imports they make into ``found``.

    ``joblib``: step over the raw array bytes joblib writes after each ``NumpyArrayWrapper``
    (as ``joblib.load`` reads them); ``wrappers`` counts them.
    """

    def __init__(self, source: Source, found: dict[tuple[str, str], None], *, joblib: bool):
        self.source = source
        self.found = found
        self.joblib = joblib
        self.wrappers = 0

    def note(self, module: Any, name: Any) -> Global | _Unknown:
        if isinstance(module, str) and isinstance(name, str):
            key = (module, name)
            result: Global | _Unknown = Global(module, name)
        else:
            key, result = UNKNOWN_GLOBAL, UNKNOWN
        if key not in self.found and len(self.found) < MAX_GLOBALS:
            self.found[key] = None
        return result

    def read(self) -> None:
        """One pickle, up to and including its STOP."""
        source = self.source
        stack: list[Any] = []
        marks: list[list[Any]] = []
        memo: dict[int, Any] = {}
        code2op = pickletools.code2op

        def pop() -> Any:
            if not stack:
                raise Unreadable(f"stack underflow at byte {source.pos}")
            return stack.pop()

        def pop_mark() -> list[Any]:
            nonlocal stack
            if not marks:
                raise Unreadable(f"no MARK to pop at byte {source.pos}")
            items = stack
            stack = marks.pop()
            return items

        def top() -> Any:
            if not stack:
                raise Unreadable(f"stack underflow at byte {source.pos}")
            return stack[-1]

        while True:
            at = source.pos
            code = source.read(1).decode("latin-1")
            op = code2op.get(code)
            if op is None:
                raise Unreadable(f"invalid opcode {code!r} at byte {at}")
            arg = None if op.arg is None else _argument(source, op.arg)
            name = op.name
            if name == "STOP":
                pop()
                return
            handler = _SIMPLE.get(name)
            if handler is not None:
                stack.append(handler(arg))
            elif name in ("PROTO", "FRAME"):
                pass
            elif name == "MARK":
                marks.append(stack)
                stack = []
            elif name == "POP":
                if stack:
                    stack.pop()
                else:
                    pop_mark()
            elif name == "POP_MARK":
                pop_mark()
            elif name == "DUP":
                stack.append(top())
            elif name in ("LIST", "TUPLE", "FROZENSET"):
                items = pop_mark()[:MAX_ITEMS]
                stack.append(list(items) if name == "LIST" else tuple(items))
            elif name == "DICT":
                items = pop_mark()
                stack.append(_pairs({}, items))
            elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
                count = int(name[-1])
                items = [pop() for _ in range(count)][::-1]
                stack.append(tuple(items))
            elif name == "APPEND":
                value = pop()
                target = top()
                if isinstance(target, list) and len(target) < MAX_ITEMS:
                    target.append(value)
            elif name == "APPENDS":
                items = pop_mark()
                target = top()
                if isinstance(target, list):
                    target.extend(items[:max(0, MAX_ITEMS - len(target))])
            elif name == "SETITEM":
                value, key = pop(), pop()
                target = top()
                if isinstance(target, dict):
                    _pairs(target, [key, value])
            elif name == "SETITEMS":
                items = pop_mark()
                target = top()
                if isinstance(target, dict):
                    _pairs(target, items)
            elif name == "ADDITEMS":
                pop_mark()
                top()
            elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
                memo[arg] = top()
            elif name == "MEMOIZE":
                memo[len(memo)] = top()
            elif name in ("GET", "BINGET", "LONG_BINGET"):
                if arg not in memo:
                    raise Unreadable(f"memo key {arg} missing at byte {at}")
                stack.append(memo[arg])
            elif name == "GLOBAL":
                module, _, attribute = str(arg).partition(" ")
                stack.append(self.note(module, attribute))
            elif name == "STACK_GLOBAL":
                attribute, module = pop(), pop()
                stack.append(self.note(module, attribute))
            elif name == "INST":
                module, _, attribute = str(arg).partition(" ")
                cls = self.note(module, attribute)
                stack.append(Obj(cls, tuple(pop_mark()[:MAX_ITEMS])))
            elif name == "OBJ":
                items = pop_mark()
                if not items:
                    raise Unreadable(f"OBJ without a class at byte {at}")
                stack.append(Obj(items[0], tuple(items[1:MAX_ITEMS])))
            elif name in ("REDUCE", "NEWOBJ"):
                args = pop()
                stack.append(Obj(pop(), args))
            elif name == "NEWOBJ_EX":
                pop()  # kwargs
                args = pop()
                stack.append(Obj(pop(), args))
            elif name == "BUILD":
                state = pop()
                target = top()
                if isinstance(target, Obj):
                    target.state = state
                    if self.joblib and target.callable == Global(*JOBLIB_WRAPPER):
                        self._step_over_array(target)
            elif name in ("EXT1", "EXT2", "EXT4"):
                # the copyreg extension registry maps codes to imports the reader cannot see
                stack.append(self.note(f"unknown (extension code {arg})", "unknown"))
            elif name == "PERSID":
                stack.append(UNKNOWN)
            elif name == "BINPERSID":
                pop()
                stack.append(UNKNOWN)
            elif name == "NEXT_BUFFER":
                stack.append(UNKNOWN)
            elif name == "READONLY_BUFFER":
                top()
            else:  # pragma: no cover - every opcode of pickletools' table is handled above
                raise Unreadable(f"unsupported opcode {name} at byte {at}")

    def _step_over_array(self, wrapper: Obj) -> None:
        """The raw bytes ``joblib.load`` reads after the wrapper (``NumpyArrayWrapper.read_array``)."""
        self.wrappers += 1
        size, alignment = _array_bytes(wrapper)
        if size is None:  # an array of objects: joblib pickles it in place, as a pickle of its own
            nested = PickleReader(self.source, self.found, joblib=True)
            nested.read()
            self.wrappers += nested.wrappers
            return
        if alignment is not None:
            padding = self.source.read(1)[0]
            if padding > alignment:
                raise Unreadable(f"joblib padding of {padding} bytes at byte {self.source.pos}")
            self.source.skip(padding)
        self.source.skip(size)


def _pairs(target: dict[Any, Any], items: list[Any]) -> dict[Any, Any]:
    if len(items) % 2:
        raise Unreadable("odd number of items for a dict")
    for index in range(0, len(items), 2):
        key = items[index]
        if len(target) < MAX_ITEMS and isinstance(key, str | int | float | bool | bytes | type(None)):
            target[key] = items[index + 1]
    return target


_SIMPLE: dict[str, Callable[[Any], Any]] = {
    **{name: (lambda arg: arg) for name in (
        "INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4", "FLOAT", "BINFLOAT", "STRING",
        "BINSTRING", "SHORT_BINSTRING", "BINBYTES", "SHORT_BINBYTES", "BINBYTES8", "BYTEARRAY8", "UNICODE",
        "SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8")},
    "NONE": lambda arg: None,
    "NEWTRUE": lambda arg: True,
    "NEWFALSE": lambda arg: False,
    "EMPTY_LIST": lambda arg: [],
    "EMPTY_DICT": lambda arg: {},
    "EMPTY_TUPLE": lambda arg: (),
    "EMPTY_SET": lambda arg: [],
}


# ---- whole files ------------------------------------------------------------------------------------

@dataclass
class Reading:
    """What reading a file found: the imports (in order of appearance), the pickles read, and —
    if it could not be read to the end — why (``error``)."""

    found: dict[tuple[str, str], None]
    pickles: int = 0
    error: str | None = None


def read_stream(stream: IO[bytes], *, max_pickles: int | None = None) -> Reading:
    """Read the pickles of ``stream``, one after another to its end (or ``max_pickles`` of them,
    leaving the rest unread). joblib arrays are stepped over as ``joblib.load`` reads them; if
    there were any, the stream is read again as ``pickle.load`` would (up to where that loader
    would fail), and the imports of both readings are reported."""
    reading = Reading({})
    source = Source(stream)
    start = source.pos
    wrappers = False
    try:
        while max_pickles is None or reading.pickles < max_pickles:
            if source.at_end():
                if reading.pickles == 0:
                    raise Unreadable("the file is empty")
                break
            reader = PickleReader(source, reading.found, joblib=True)
            try:
                reader.read()
            finally:
                wrappers = wrappers or reader.wrappers > 0
            reading.pickles += 1
    except Unreadable as exc:
        reading.error = str(exc)
    if wrappers:
        _read_as_plain_pickle(stream, start, reading.found)
    return reading


def _read_as_plain_pickle(stream: IO[bytes], start: int, found: dict[tuple[str, str], None]) -> None:
    """``pickle.load``'s reading of a joblib file: the array bytes taken as opcodes. It stops
    where that loader would fail (the first array, for any file joblib wrote)."""
    try:
        stream.seek(start)
    except (OSError, ValueError):
        return
    source = Source(stream)
    try:
        while not source.at_end():
            PickleReader(source, found, joblib=False).read()
    except Unreadable:
        pass
