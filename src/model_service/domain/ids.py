"""ObjectId-compatible identifiers: 12 bytes as 24 lowercase hex digits.

The layout is MongoDB's (4-byte big-endian seconds, 5 random bytes per process, 3-byte counter),
so ids sort by creation time on every backend and the seed's clients, which validate ObjectIds,
accept them.
"""

from __future__ import annotations

import itertools
import os
import re
import threading
import time

from .errors import InvalidId

_HEX24 = re.compile(r"[0-9a-fA-F]{24}")
_lock = threading.Lock()
_counter = itertools.count(int.from_bytes(os.urandom(3), "big"))
_process: dict[str, int | bytes] = {"pid": os.getpid(), "random": os.urandom(5)}


def new_id(now: float | None = None) -> str:
    """A fresh ObjectId string, unique across processes and threads."""
    with _lock:
        if _process["pid"] != os.getpid():  # forked: never share the random part with the parent
            _process.update(pid=os.getpid(), random=os.urandom(5))
        count = next(_counter) & 0xFFFFFF
        random_part = _process["random"]
    assert isinstance(random_part, bytes)
    seconds = int(time.time() if now is None else now) & 0xFFFFFFFF
    return (seconds.to_bytes(4, "big") + random_part + count.to_bytes(3, "big")).hex()


def parse_id(value: str) -> str:
    """The canonical (lowercase) form of an id, or :class:`InvalidId`."""
    if not isinstance(value, str) or not _HEX24.fullmatch(value):
        raise InvalidId(
            f"'{value}' is not a valid model id: expected 24 hexadecimal characters",
            details={"id": str(value)[:100]},
        )
    return value.lower()
