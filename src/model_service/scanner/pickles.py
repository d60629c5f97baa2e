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

import math
import pickletools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .stream import BIG, Big, BinaryStream, Source, Unreadable, argument

__all__ = ["BIG", "UNKNOWN_GLOBAL", "Big", "PickleReader", "Reading", "Unreadable", "read_stream"]

MAX_GLOBALS = 1000  # distinct imports reported at most
MAX_ITEMS = 256  # container items kept (only small containers matter: shapes, dtypes, wrapper states)

UNKNOWN_GLOBAL = ("unknown", "unknown")
"""An import whose module or name is computed (not a plain string): reported as dangerous."""

JOBLIB_WRAPPER = ("joblib.numpy_pickle", "NumpyArrayWrapper")


@dataclass(frozen=True, slots=True)
class Global:
    module: str
    name: str


class Obj:
    """What calling (REDUCE, NEWOBJ, OBJ, INST) ``callable`` with ``args`` would make; ``state``
    is what BUILD gives it."""

    __slots__ = ("args", "callable", "state")

    def __init__(self, callable_: Any, args: Any):
        self.callable = callable_
        self.args = args
        self.state: Any = None


class _Unknown:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<unknown>"


UNKNOWN = _Unknown()


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

# pickletools' opcode table, by the byte that starts each opcode.
_OPCODES: dict[str, pickletools.OpcodeInfo] = {op.code: op for op in pickletools.opcodes}


class PickleReader:
    """Reads pickles from ``source``, collecting the imports they make into ``found``.

    ``joblib``: step over the raw array bytes joblib writes after each ``NumpyArrayWrapper``
    (as ``joblib.load`` reads them); ``wrappers`` counts them.

    The pickle machine's stack, its marks (the stacks set aside by MARK) and its memo are
    followed symbolically; each opcode is one method, found in :data:`_WITHOUT_ARGUMENT` or
    :data:`_WITH_ARGUMENT` as pickletools says whether the opcode takes an argument.
    """

    def __init__(self, source: Source, found: dict[tuple[str, str], None], *, joblib: bool):
        self.source = source
        self.found = found
        self.joblib = joblib
        self.wrappers = 0
        self.stack: list[Any] = []
        self.marks: list[list[Any]] = []
        self.memo: dict[int, Any] = {}
        self.at = source.pos  # where the opcode being run starts

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
        self.stack, self.marks, self.memo = [], [], {}
        while True:
            self.at = self.source.pos
            code = self.source.read(1).decode("latin-1")
            op = _OPCODES.get(code)
            if op is None:
                raise Unreadable(f"invalid opcode {code!r} at byte {self.at}")
            if op.name == "STOP":
                self._pop()
                return
            if op.arg is None:
                _handler(_WITHOUT_ARGUMENT, op.name, self.at)(self)
            else:
                _handler(_WITH_ARGUMENT, op.name, self.at)(self, argument(self.source, op.arg))

    # -- the stack

    def _pop(self) -> Any:
        if not self.stack:
            raise Unreadable(f"stack underflow at byte {self.source.pos}")
        return self.stack.pop()

    def _pop_mark(self) -> list[Any]:
        if not self.marks:
            raise Unreadable(f"no MARK to pop at byte {self.source.pos}")
        items = self.stack
        self.stack = self.marks.pop()
        return items

    def _top(self) -> Any:
        if not self.stack:
            raise Unreadable(f"stack underflow at byte {self.source.pos}")
        return self.stack[-1]

    def _push(self, value: Any) -> None:
        self.stack.append(value)

    def _mark(self) -> None:
        self.marks.append(self.stack)
        self.stack = []

    def _pop_one(self) -> None:  # POP: the top item, or (with none above it) the last mark
        if self.stack:
            self.stack.pop()
        else:
            self._pop_mark()

    def _discard_mark(self) -> None:  # POP_MARK
        self._pop_mark()

    def _dup(self) -> None:
        self.stack.append(self._top())

    # -- containers

    # The methods that pop a mark take the items off first and push after: popping the mark puts
    # back the stack it set aside, so ``self.stack`` is another list afterwards.

    def _list(self) -> None:
        items = self._pop_mark()[:MAX_ITEMS]
        self.stack.append(items)

    def _tuple(self) -> None:  # TUPLE, FROZENSET
        items = tuple(self._pop_mark()[:MAX_ITEMS])
        self.stack.append(items)

    def _tuple_of(self, count: int) -> None:  # TUPLE1, TUPLE2, TUPLE3
        items = tuple([self._pop() for _ in range(count)][::-1])
        self.stack.append(items)

    def _dict(self) -> None:
        items = _pairs({}, self._pop_mark())
        self.stack.append(items)

    def _append(self) -> None:
        value = self._pop()
        target = self._top()
        if isinstance(target, list) and len(target) < MAX_ITEMS:
            target.append(value)

    def _appends(self) -> None:
        items = self._pop_mark()
        target = self._top()
        if isinstance(target, list):
            target.extend(items[:max(0, MAX_ITEMS - len(target))])

    def _setitem(self) -> None:
        value, key = self._pop(), self._pop()
        target = self._top()
        if isinstance(target, dict):
            _pairs(target, [key, value])

    def _setitems(self) -> None:
        items = self._pop_mark()
        target = self._top()
        if isinstance(target, dict):
            _pairs(target, items)

    def _additems(self) -> None:  # to a set: not followed
        self._pop_mark()
        self._top()

    # -- the memo

    def _put(self, key: int) -> None:
        self.memo[key] = self._top()

    def _memoize(self) -> None:
        self.memo[len(self.memo)] = self._top()

    def _get(self, key: int) -> None:
        if key not in self.memo:
            raise Unreadable(f"memo key {key} missing at byte {self.at}")
        self.stack.append(self.memo[key])

    # -- imports and objects

    def _global(self, text: Any) -> None:  # GLOBAL's argument: "module name"
        module, _, attribute = str(text).partition(" ")
        self.stack.append(self.note(module, attribute))

    def _stack_global(self) -> None:
        attribute, module = self._pop(), self._pop()
        self.stack.append(self.note(module, attribute))

    def _inst(self, text: Any) -> None:
        module, _, attribute = str(text).partition(" ")
        cls = self.note(module, attribute)
        args = tuple(self._pop_mark()[:MAX_ITEMS])
        self.stack.append(Obj(cls, args))

    def _obj(self) -> None:
        items = self._pop_mark()
        if not items:
            raise Unreadable(f"OBJ without a class at byte {self.at}")
        self.stack.append(Obj(items[0], tuple(items[1:MAX_ITEMS])))

    def _reduce(self) -> None:  # REDUCE, NEWOBJ: the callable, then its arguments
        args = self._pop()
        self.stack.append(Obj(self._pop(), args))

    def _newobj_ex(self) -> None:
        self._pop()  # kwargs
        self._reduce()

    def _build(self) -> None:
        state = self._pop()
        target = self._top()
        if isinstance(target, Obj):
            target.state = state
            if self.joblib and target.callable == Global(*JOBLIB_WRAPPER):
                self._step_over_array(target)

    def _extension(self, code: int) -> None:
        # the copyreg extension registry maps codes to imports the reader cannot see
        self.stack.append(self.note(f"unknown (extension code {code})", "unknown"))

    def _unknown(self) -> None:  # a persistent id's object, an out-of-band buffer
        self.stack.append(UNKNOWN)

    def _persistent(self, _pid: str) -> None:  # PERSID: the id is text
        self._unknown()

    def _binpersistent(self) -> None:  # BINPERSID: the id is on the stack
        self._pop()
        self._unknown()

    def _readonly_buffer(self) -> None:
        self._top()

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


def _handler(table: dict[str, Callable[..., None]], name: str, at: int) -> Callable[..., None]:
    handler = table.get(name)
    if handler is None:  # pragma: no cover - every opcode of pickletools' table has one (a unit test checks)
        raise Unreadable(f"unsupported opcode {name} at byte {at}")
    return handler


def _push_constant(make: Callable[[], Any]) -> Callable[[PickleReader], None]:
    return lambda reader: reader.stack.append(make())


def _nothing(_reader: PickleReader, _arg: int) -> None:
    """PROTO, FRAME: nothing the reader follows changes."""


# The opcodes without an argument (pickletools' ``arg`` is None), STOP aside.
_WITHOUT_ARGUMENT: dict[str, Callable[[PickleReader], None]] = {
    "NONE": _push_constant(lambda: None),
    "NEWTRUE": _push_constant(lambda: True),
    "NEWFALSE": _push_constant(lambda: False),
    "EMPTY_LIST": _push_constant(list),
    "EMPTY_DICT": _push_constant(dict),
    "EMPTY_TUPLE": _push_constant(tuple),
    "EMPTY_SET": _push_constant(list),
    "MARK": PickleReader._mark,
    "POP": PickleReader._pop_one,
    "POP_MARK": PickleReader._discard_mark,
    "DUP": PickleReader._dup,
    "LIST": PickleReader._list,
    "TUPLE": PickleReader._tuple,
    "FROZENSET": PickleReader._tuple,
    "DICT": PickleReader._dict,
    "TUPLE1": lambda reader: reader._tuple_of(1),
    "TUPLE2": lambda reader: reader._tuple_of(2),
    "TUPLE3": lambda reader: reader._tuple_of(3),
    "APPEND": PickleReader._append,
    "APPENDS": PickleReader._appends,
    "SETITEM": PickleReader._setitem,
    "SETITEMS": PickleReader._setitems,
    "ADDITEMS": PickleReader._additems,
    "MEMOIZE": PickleReader._memoize,
    "STACK_GLOBAL": PickleReader._stack_global,
    "OBJ": PickleReader._obj,
    "REDUCE": PickleReader._reduce,
    "NEWOBJ": PickleReader._reduce,
    "NEWOBJ_EX": PickleReader._newobj_ex,
    "BUILD": PickleReader._build,
    "BINPERSID": PickleReader._binpersistent,
    "NEXT_BUFFER": PickleReader._unknown,
    "READONLY_BUFFER": PickleReader._readonly_buffer,
}

# The opcodes with an argument: those that push it, then the others.
_WITH_ARGUMENT: dict[str, Callable[[PickleReader, Any], None]] = {
    **{name: PickleReader._push for name in (
        "INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4", "FLOAT", "BINFLOAT", "STRING",
        "BINSTRING", "SHORT_BINSTRING", "BINBYTES", "SHORT_BINBYTES", "BINBYTES8", "BYTEARRAY8", "UNICODE",
        "SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8")},
    "PROTO": _nothing,
    "FRAME": _nothing,
    "PUT": PickleReader._put,
    "BINPUT": PickleReader._put,
    "LONG_BINPUT": PickleReader._put,
    "GET": PickleReader._get,
    "BINGET": PickleReader._get,
    "LONG_BINGET": PickleReader._get,
    "GLOBAL": PickleReader._global,
    "INST": PickleReader._inst,
    "EXT1": PickleReader._extension,
    "EXT2": PickleReader._extension,
    "EXT4": PickleReader._extension,
    "PERSID": PickleReader._persistent,
}



# ---- whole files ------------------------------------------------------------------------------------

@dataclass
class Reading:
    """What reading a file found: the imports (in order of appearance), the pickles read, and —
    if it could not be read to the end — why (``error``)."""

    found: dict[tuple[str, str], None]
    pickles: int = 0
    error: str | None = None


def read_stream(stream: BinaryStream, *, max_pickles: int | None = None) -> Reading:
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


def _read_as_plain_pickle(stream: BinaryStream, start: int, found: dict[tuple[str, str], None]) -> None:
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
