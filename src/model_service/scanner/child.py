"""The scanner process: ``python -m model_service.scanner.child KIND PATH``.

It caps its own address space (``--memory``, ``RLIMIT_AS``) and CPU time (``--cpu``,
``RLIMIT_CPU``) and may not write files (``RLIMIT_FSIZE``) before it opens anything, reads the
file statically (``pickles.py``: nothing is imported, constructed or called), has picklescan
judge each import it found, and prints one JSON object::

    {"scanner": "picklescan", "pickles": 1, "error": null,
     "globals": [["posix", "system", "dangerous"], ...]}

``error`` says why the file could not be read to the end (the imports found before are still
listed). Exit status 3: the memory cap was reached.

KIND is ``pickle`` (one or more pickles, possibly a compressed joblib file), ``pytorch`` (a
PyTorch zip archive, or the legacy format: five pickles, then raw tensor data) or ``zip`` (an
archive whose pickle members are read).
"""

from __future__ import annotations

import argparse
import bz2
import gzip
import io
import json
import logging
import lzma
import sys
import zipfile
import zlib
from typing import IO, Any

from .pickles import Reading, read_stream
from .stream import BinaryStream

MEMORY_ERROR_STATUS = 3
PICKLE_EXTENSIONS = (".pkl", ".pickle", ".joblib")
LEGACY_TORCH_PICKLES = 5  # magic number, protocol, system info, the data, the storage keys
SCANNER = "picklescan"
MAX_NAME = 1000  # characters of a module or name reported (the reader keeps strings up to 64 KiB)


def limit_resources(memory: int | None, cpu_seconds: int | None) -> None:
    import resource

    if memory:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    if cpu_seconds:
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))


# ---- compressed joblib files ----------------------------------------------------------------------

class _ZlibReader(io.RawIOBase):
    """A zlib stream (joblib's ``compress=True``), decompressed as it is read, in bounded steps."""

    def __init__(self, raw: IO[bytes]):
        self._raw = raw
        self._start = raw.tell()
        self._reset()

    def _reset(self) -> None:
        self._decompressor = zlib.decompressobj()
        self._pending = b""
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if offset == 0 and whence == io.SEEK_CUR:
            return self._position
        if offset != 0 or whence != io.SEEK_SET:
            raise io.UnsupportedOperation("only a rewind")
        self._raw.seek(self._start)
        self._reset()
        return 0

    def tell(self) -> int:
        return self._position

    def readinto(self, buffer: Any) -> int:
        size = len(buffer)
        while True:
            if self._decompressor.eof:
                return 0
            data = self._decompressor.decompress(self._pending, size)
            self._pending = self._decompressor.unconsumed_tail
            if data:
                buffer[:len(data)] = data
                self._position += len(data)
                return len(data)
            chunk = self._raw.read(1 << 16)
            if not chunk:
                raise EOFError("the compressed stream ends early")
            self._pending += chunk


def _decompressed(file: IO[bytes]) -> BinaryStream:
    """``file`` itself, or a decompressing reader if it starts as joblib's compressed files do."""
    head = file.read(6)
    file.seek(0)
    if head.startswith(b"\x1f\x8b"):
        return gzip.GzipFile(fileobj=file)
    if head.startswith(b"BZh"):
        return bz2.BZ2File(file)
    if head.startswith((b"\xfd7zXZ\x00", b"\x5d\x00\x00")):
        return lzma.LZMAFile(file)
    if len(head) >= 2 and head[0] == 0x78 and (head[0] << 8 | head[1]) % 31 == 0:
        return io.BufferedReader(_ZlibReader(file))
    return file


# ---- files ---------------------------------------------------------------------------------------------

def _looks_like_pickle(head: bytes) -> bool:
    return len(head) >= 2 and head[0] == 0x80 and head[1] <= 5


def read_archive(file: IO[bytes]) -> Reading:
    """Every pickle member of a zip archive (PyTorch's ``data.pkl``, TorchScript's
    ``constants.pkl``, …). A member named like a pickle must read to its end; one that only
    starts like a pickle (tensor data can) counts if it reads, and its imports are kept either way."""
    total = Reading({})
    try:
        archive = zipfile.ZipFile(file)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        total.error = f"not a readable zip archive: {exc}"
        return total
    with archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            named = info.filename.lower().endswith(PICKLE_EXTENSIONS)
            try:
                if not named:
                    with archive.open(info) as member:
                        if not _looks_like_pickle(member.read(2)):
                            continue
                with archive.open(info) as member:
                    reading = read_stream(member)
            except (zipfile.BadZipFile, RuntimeError, OSError, EOFError, ValueError, NotImplementedError,
                    zlib.error) as exc:
                reading = Reading({}, error=f"unreadable member: {exc}")
            total.found.update(reading.found)
            if reading.error is None:
                total.pickles += reading.pickles
            elif named and total.error is None:
                total.error = f"{info.filename[:200]}: {reading.error}"
    return total


def read_file(path: str, kind: str) -> Reading:
    with open(path, "rb") as file:
        head = file.read(4)
        file.seek(0)
        is_zip = head == b"PK\x03\x04"
        if kind == "zip" or (kind == "pytorch" and is_zip):
            return read_archive(file)
        if kind == "pytorch":  # the legacy format: the pickles, then raw tensor bytes
            return read_stream(file, max_pickles=LEGACY_TORCH_PICKLES)
        try:
            stream = _decompressed(file)
        except (OSError, EOFError, lzma.LZMAError, zlib.error) as exc:
            return Reading({}, error=f"could not decompress: {exc}")
        return read_stream(stream)


# ---- judging the imports ----------------------------------------------------------------------------

def _text(value: str) -> bytes:
    data = value.encode("utf-8", "surrogatepass")
    return b"X" + len(data).to_bytes(4, "little") + data  # BINUNICODE


def judge(found: list[tuple[str, str]]) -> list[tuple[str, str, str]]:
    """picklescan's verdict on each import: ``dangerous``, ``suspicious`` or ``innocuous``.

    picklescan is handed a pickle that does nothing but make these imports (one STACK_GLOBAL
    each), so its own rules decide — the same ones it applies to the files it reads itself.
    """
    if not found:
        return []
    from picklescan.scanner import scan_pickle_bytes

    stream = b"\x80\x04" + b"".join(_text(module) + _text(name) + b"\x930" for module, name in found) + b"N."
    result = scan_pickle_bytes(io.BytesIO(stream), "imports", multiple_pickles=False)
    levels = {(g.module, g.name): g.safety.value for g in result.globals}
    # an import picklescan did not report back is judged as the worst case
    return [(module, name, levels.get((module, name), "dangerous")) for module, name in found]


def scanner_version() -> str | None:
    """picklescan's version (read by the server, once: the child has no need to)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(SCANNER)
    except PackageNotFoundError:  # pragma: no cover - a dependency of the package
        return None


def scan(path: str, kind: str) -> dict[str, Any]:
    reading = read_file(path, kind)
    found = list(dict.fromkeys((module[:MAX_NAME], name[:MAX_NAME]) for module, name in reading.found))
    return {"scanner": SCANNER, "pickles": reading.pickles,
            "error": None if reading.error is None else reading.error[:500], "globals": judge(found)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="model_service.scanner.child")
    parser.add_argument("kind", choices=("pickle", "pytorch", "zip"))
    parser.add_argument("path")
    parser.add_argument("--memory", type=int, default=None, help="address space cap, bytes")
    parser.add_argument("--cpu", type=int, default=None, help="CPU time cap, seconds")
    options = parser.parse_args(argv)
    limit_resources(options.memory, options.cpu)
    logging.getLogger("picklescan").setLevel(logging.CRITICAL)
    try:
        outcome = scan(options.path, options.kind)
    except MemoryError:
        sys.stdout.write(json.dumps({"error": "memory"}))
        return MEMORY_ERROR_STATUS
    except RecursionError:
        outcome = {"scanner": SCANNER, "pickles": 0, "globals": [],
                   "error": "nested too deeply to read"}
    sys.stdout.write(json.dumps(outcome))
    return 0


if __name__ == "__main__":
    sys.exit(main())
