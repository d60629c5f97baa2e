"""Restoring an archive written by ``model-service export`` (``model-service import``).

The archive's layout, and what an import guarantees, are described in :mod:`.archive`. In
short: one pass over the tar stream; files verified and committed as they arrive; JSON-lines
members spooled to a temporary directory; records, aliases, keys and audit records written
(as :mod:`.transfer` writes them, skipping what is there) only once ``manifest-end.json`` has
arrived and vouched for every member.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any, BinaryIO, ClassVar

from .. import __version__
from ..domain.errors import Malformed
from ..domain.ports import ModelRecord
from .archive import (
    ARCHIVE_CHUNK,
    BLOB_MEMBER,
    FORMAT,
    FORMAT_VERSION,
    LINES_MEMBER,
    MANIFEST,
    MANIFEST_END,
    MAX_MANIFEST_SIZE,
    ZSTD_MAGIC,
)
from .archive_codec import decode
from .transfer import (
    BlobCopyError,
    Stores,
    TransferSummary,
    describe,
    put_aliases,
    put_audit,
    put_keys,
    put_record,
    write_verified,
)


def _kind(member: str) -> str:
    """``records``, ``audit``, ``aliases`` or ``keys``: what a JSON-lines member holds."""
    return member.split("/", 1)[0].removesuffix(".jsonl")


@dataclass
class ImportSummary(TransferSummary):
    """What an import did (:class:`~.transfer.TransferSummary`'s counts), what the archive is
    (``archive``: its manifest) and what its export reported (``export_problems``)."""

    blobs_rejected: int = 0
    archive: dict[str, Any] = field(default_factory=dict)
    export_problems: list[str] = field(default_factory=list)

    verb: ClassVar[str] = "imported"

    def lines(self) -> list[str]:
        head = [f"archive: format {self.archive.get('format_version')}, written by model-service "
                f"{self.archive.get('service_version')} at {self.archive.get('created_at')}"]
        if self.export_problems:
            head += [f"problems the export reported: {len(self.export_problems)}",
                     *(f"  - {problem}" for problem in self.export_problems)]
        body = super().lines()
        at = body.index(f"failures: {len(self.failures)}")
        return [*head, *body[:at], f"skipped: {self.skipped}; files refused as damaged: {self.blobs_rejected}",
                *body[at:]]

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def import_registry(source: BinaryIO, target: Stores, *, chunk_size: int = ARCHIVE_CHUNK,
                    progress: Callable[[ImportSummary], None] | None = None) -> ImportSummary:
    """Restore an archive into ``target`` (its metadata store prepared), as the module's
    docstring says. :class:`~.errors.Malformed` (code ``invalid_archive``) if ``source`` is not
    an archive of this service or is truncated, with no metadata written."""
    summary = ImportSummary()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="model-service-import-") as spool:
        reader = _ArchiveReader(target, Path(spool), summary, chunk_size)
        try:
            # typeshed's fileobj is for every mode; a stream ("r|") is only ever read: _ZstdReader has read() alone
            with tarfile.open(fileobj=_decompressed(source), mode="r|", bufsize=chunk_size) as tar:  # type: ignore[call-overload]
                reader.read(tar)
        except tarfile.TarError as exc:  # a member cut short, a stream that is not tar (or zstd) at all
            reader.truncated(str(exc))
        reader.write_metadata(progress, started)
    summary.seconds = time.monotonic() - started
    return summary


@dataclass(frozen=True, slots=True)
class _Spooled:
    path: Path
    size: int
    sha256: str


class _ArchiveReader:
    def __init__(self, target: Stores, spool: Path, summary: ImportSummary, chunk_size: int):
        self.target = target
        self.spool = spool
        self.summary = summary
        self.chunk_size = chunk_size
        self.spooled: dict[str, _Spooled] = {}
        self.rejected: set[str] = set()  # files whose member was refused (problems only: a handful)
        self.blob_members = 0
        self.stored = 0  # files committed by this run
        self.end: dict[str, Any] | None = None

    # ---- the one pass over the archive ----

    def read(self, tar: tarfile.TarFile) -> None:
        members = iter(tar)
        first = next(members, None)
        if first is None or first.name != MANIFEST or not first.isfile():
            raise Malformed("This is not an archive of model-service export: it does not start with manifest.json",
                            code="invalid_archive")
        manifest = self._json(tar, first)
        if manifest.get("format") != FORMAT:
            raise Malformed(f"This is not an archive of model-service export (format {manifest.get('format')!r})",
                            code="invalid_archive")
        if not isinstance(manifest.get("format_version"), int) or manifest["format_version"] > FORMAT_VERSION:
            raise Malformed(f"The archive is of format version {manifest.get('format_version')}, written by "
                            f"model-service {manifest.get('service_version')}; this one ({__version__}) reads "
                            f"version {FORMAT_VERSION}: import it with a newer model-service", code="invalid_archive")
        self.summary.archive = {key: manifest.get(key) for key in
                                ("format_version", "service_version", "created_at", "source", "compression")}
        for member in members:
            name = member.name
            if self.end is not None:
                self._failure(f"member {name[:200]!r} follows {MANIFEST_END}: ignored")
            elif not member.isfile():
                self._failure(f"member {name[:200]!r} is not a file: ignored")
            elif name == MANIFEST_END:
                self.end = self._json(tar, member)
            elif match := BLOB_MEMBER.fullmatch(name):
                self.blob_members += 1
                self._blob(_content(tar, member), match.group(1), member.size)
            elif LINES_MEMBER.fullmatch(name) and name not in self.spooled:
                self._spool(_content(tar, member), name)
            else:
                self._failure(f"member {name[:200]!r} is unexpected in an archive: ignored")
        if self.end is None or self.end.get("complete") is not True:
            self.truncated(f"it ends before {MANIFEST_END}")

    def truncated(self, reason: str) -> None:
        stored = (f"; {self.stored} files already stored from it are whole and verified but not referenced by any "
                  f"version (importing the complete archive uses them; `model-service gc` removes them)"
                  if self.stored else "")
        raise Malformed(f"The archive is truncated or damaged ({reason}): no version, event, alias, key or audit "
                        f"record was imported{stored}", code="invalid_archive",
                        details={"files_stored": self.stored})

    def _json(self, tar: tarfile.TarFile, member: tarfile.TarInfo) -> dict[str, Any]:
        if member.size > MAX_MANIFEST_SIZE:
            raise Malformed(f"{member.name} is {member.size} bytes: not a manifest of this service",
                            code="invalid_archive")
        try:
            document = json.loads(_content(tar, member).read())
        except ValueError:
            document = None
        if not isinstance(document, dict):
            raise Malformed(f"{member.name} is not a JSON object: the archive is damaged", code="invalid_archive")
        return document

    def _blob(self, content: IO[bytes], sha256: str, size: int) -> None:
        summary = self.summary
        if self.target.blobs.size(sha256) is not None:  # only check the archive's copy
            digest = hashlib.sha256()
            while chunk := content.read(self.chunk_size):
                digest.update(chunk)
            if digest.hexdigest() == sha256:
                summary.blobs_present += 1
            else:
                self._failure(f"file sha256:{sha256} is damaged in the archive (its bytes hash to "
                              f"sha256:{digest.hexdigest()}); the target already holds it intact")
            return
        try:
            write_verified(content.read, self.target.blobs, sha256, size, chunk_size=self.chunk_size)
        except BlobCopyError as exc:
            summary.blobs_rejected += 1
            self.rejected.add(sha256)
            self._failure(f"{exc} (damaged in the archive)")
            return
        self.stored += 1
        summary.blobs_copied += 1
        summary.blob_bytes_copied += size

    def _spool(self, content: IO[bytes], name: str) -> None:
        path = self.spool / f"{len(self.spooled):08d}"
        digest, size = hashlib.sha256(), 0
        with open(path, "wb") as out:
            while chunk := content.read(self.chunk_size):
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
        self.spooled[name] = _Spooled(path, size, digest.hexdigest())

    # ---- once the archive is known to be complete ----

    def write_metadata(self, progress: Callable[[ImportSummary], None] | None, started: float) -> None:
        end, summary = self.end, self.summary
        assert end is not None
        summary.export_problems = [str(problem) for problem in end.get("problems") or ()]
        listed = [entry for entry in end.get("members") or ()
                  if isinstance(entry, dict) and isinstance(entry.get("name"), str)]
        blobs = end.get("blobs") or {}
        if blobs.get("members") != self.blob_members:
            self._failure(f"the archive holds {self.blob_members} files, its manifest lists {blobs.get('members')}")
        usable: list[tuple[str, Path]] = []
        for entry in listed:
            name: str = entry["name"]
            spooled = self.spooled.get(name)
            if spooled is None:
                self._failure(f"{name} is missing from the archive: its {entry.get('lines')} lines are not imported")
            elif (spooled.sha256, spooled.size) != (entry.get("sha256"), entry.get("size")):
                self._failure(f"{name} is damaged in the archive (sha256:{spooled.sha256}, manifest says "
                              f"sha256:{entry.get('sha256')}): its {entry.get('lines')} lines are not imported")
            else:
                usable.append((name, spooled.path))
        for name in self.spooled.keys() - {entry.get("name") for entry in listed}:
            self._failure(f"{name} is not listed in {MANIFEST_END}: ignored")
        metadata = self.target.metadata
        for name, path in usable:
            kind = _kind(name)
            items = self._items(name, path, kind)
            if kind == "records":
                for record in items:
                    self._record(record)
                if progress is not None:
                    summary.seconds = time.monotonic() - started
                    progress(summary)
            elif kind == "aliases":
                put_aliases(metadata, items, summary)
            elif kind == "keys":
                put_keys(metadata, items, summary)
            else:
                put_audit(metadata, items, summary)
        metadata.refresh_statistics()

    def _items(self, name: str, path: Path, kind: str) -> Iterator[Any]:
        with open(path, "rb") as lines:
            for number, line in enumerate(lines, 1):
                try:
                    yield decode(kind, json.loads(line))
                except (ValueError, Malformed) as exc:
                    self.summary.skipped += 1
                    reason = exc.message if isinstance(exc, Malformed) else f"not JSON: {exc}"
                    self._failure(f"line {number} of {name}: {reason}: not imported")

    def _record(self, record: ModelRecord) -> None:
        file = record.model.file if record.model is not None else None
        if file is not None and self.target.blobs.size(file.sha256) is None:
            reason = "is damaged in the archive" if file.sha256 in self.rejected else "is not in the archive"
            self.summary.skipped += 1
            self._failure(f"{describe(record)}: its file sha256:{file.sha256} {reason}: not imported")
            return
        put_record(self.target.metadata, record, self.summary)

    def _failure(self, message: str) -> None:
        self.summary.failures.append(message)


def _content(tar: tarfile.TarFile, member: tarfile.TarInfo) -> IO[bytes]:
    """The bytes of a member the reader has checked is a file (of which ``extractfile`` never says None)."""
    content = tar.extractfile(member)
    if content is None:
        raise Malformed(f"member {member.name[:200]!r} is not a file", code="invalid_archive")
    return content


def _decompressed(source: BinaryIO) -> BinaryIO | _ZstdReader:
    """``source`` as a tar stream: decompressed if it starts with Zstandard's magic number."""
    if not hasattr(source, "peek"):
        source = io.BufferedReader(source)  # type: ignore[type-var]  # BinaryIO declares no readinto, which a raw stream has
    if source.peek(len(ZSTD_MAGIC))[: len(ZSTD_MAGIC)] != ZSTD_MAGIC:
        return source
    import zstandard

    return _ZstdReader(zstandard.ZstdDecompressor().stream_reader(source, read_across_frames=True, closefd=False),
                       zstandard.ZstdError)


class _ZstdReader:
    """A Zstandard stream whose decoding errors are tar read errors (a damaged archive)."""

    def __init__(self, reader: Any, error: type[Exception]):
        self._reader = reader
        self._error = error

    def read(self, n: int = -1) -> bytes:
        try:
            return self._reader.read(n)
        except self._error as exc:
            raise tarfile.ReadError(f"invalid Zstandard data: {exc}") from None
