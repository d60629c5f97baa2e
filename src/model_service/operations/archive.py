"""Backup and restore: a whole registry as one archive (``model-service export`` / ``import``).

The archive is a POSIX tar stream (pax headers, so files over 8 GiB fit), optionally compressed
with Zstandard as one stream (``.tar.zst``; the import recognises it by its magic number).
Its members, in this order:

``manifest.json``
    What this is: ``format`` (``tensorfleet-model-service-archive``), ``format_version`` (1),
    ``service_version``, ``created_at``, ``source`` (the stores it came from, passwords left out).
``blobs/<sha256>`` and ``records/NNNNNN.jsonl``, a page at a time
    Model ids are read in pages of 500, ascending. For each page, first the files its versions
    have that no earlier page had (each content once, streamed from the blob store chunk by
    chunk, never whole in memory), then ``records/NNNNNN.jsonl`` (NNNNNN counting pages from
    000001): one line per model id, ``{"model_id", "model", "events"}`` — the version, or null
    once deleted (its events outlive it), and all its events oldest first. So every file comes
    before the first record that needs it.
``aliases.jsonl``, ``keys.jsonl``, ``audit/NNNNNN.jsonl``
    Every alias; every API key as stored — its SHA-256 (``secret_hash``), since the key itself
    exists nowhere on the server; the audit log, newest first, a page per member.
``manifest-end.json``
    Written last, so that an archive without it is known to be incomplete: ``complete: true``,
    the counts, ``blobs`` (how many file members and bytes), ``members`` (the name, size,
    sha256 and line count of every JSON-lines member) and ``problems`` (what the export found
    wrong: a file missing from the blob store or not matching its sha256).

Every line is a JSON object as :mod:`.archive_codec` writes it: times ISO 8601 with their
offset and microseconds, floats exact. Memory stays flat whatever the registry's size: records
and audit records are read a page at a time (a JSON-lines member is spooled to a temporary file
past 4 MiB, since a tar header needs its size first), files a chunk at a time, and the set of
files already written lives in a temporary on-disk SQLite table. Temporary files go to
``TMPDIR`` (default ``/tmp``).

Export. A file missing from the blob store, or of another size than its metadata says, is left
out; one whose bytes do not hash to its sha256 is noticed only once written (its member is
then useless: the import refuses it). Either way the record is exported (the metadata is all
there is of it), the problem is listed in ``manifest-end.json`` and the export reports it.

Import (:mod:`.archive_import`) reads the archive once, in order. Each file is streamed into the
target's blob store, hashed on the way and committed only if it hashes to its member's name (a
file the target already has is only hashed). The JSON-lines members are spooled to a temporary
directory and nothing is written to the metadata store until ``manifest-end.json`` has arrived
and each member's sha256 matches it: a truncated or damaged archive is refused with no version,
event, alias, key or audit record written (files already committed are whole and verified, but
not referenced by any version: re-importing a complete archive uses them, garbage collection
removes them). Then records, aliases, keys and audit records are written as ``migrate`` writes
them (:mod:`.transfer`): what is already there is skipped, so importing the same archive twice
writes nothing the second time; a version whose file is neither in the archive intact nor in the
target is left out and reported, never imported pointing at nothing. What the import does not
take on the archive's word — scan verdicts (every file is scanned again), API keys (only when
asked for) and audit history (marked imported) — is :mod:`.archive_policy`'s.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import sqlite3
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import IO, Any, BinaryIO

from .. import __version__
from ..domain.errors import NotFound
from ..domain.models import FileInfo
from ..domain.ports import BlobReader, BlobStore, ModelRecord
from .archive_codec import (
    alias_to_json,
    audit_to_json,
    key_to_json,
    record_to_json,
)
from .transfer import (
    PAGE_SIZE,
    Stores,
    audit_pages,
    describe,
    model_id_pages,
)

FORMAT = "tensorfleet-model-service-archive"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
MANIFEST_END = "manifest-end.json"
ALIASES = "aliases.jsonl"
KEYS = "keys.jsonl"
BLOB_MEMBER = re.compile(r"blobs/([0-9a-f]{64})")
LINES_MEMBER = re.compile(r"(records|audit)/\d{6,}\.jsonl|(aliases|keys)\.jsonl")
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
SPOOL_MEMORY = 4 << 20
ARCHIVE_CHUNK = 1 << 20  # tarfile holds several chunk-sized buffers at once: ~7 chunks in all at most
MAX_MANIFEST_SIZE = 64 << 20


# ---- export -------------------------------------------------------------------------------------

@dataclass
class ExportSummary:
    records: int = 0
    versions: int = 0
    events: int = 0
    blobs: int = 0
    blob_bytes: int = 0
    aliases: int = 0
    keys: int = 0
    audit: int = 0
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        return [
            f"records (a version and its events, or the events of a deleted version): {self.records}",
            f"versions: {self.versions}; events: {self.events}",
            f"files: {self.blobs} ({self.blob_bytes / (1 << 20):,.1f} MiB, each sha256 verified as read)",
            f"aliases: {self.aliases}; API keys: {self.keys}; audit records: {self.audit}",
            f"problems: {len(self.problems)}",
            *(f"  - {problem}" for problem in self.problems),
            f"time: {self.seconds:.1f} s",
        ]

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def export_registry(source: Stores, out: BinaryIO, *, compress: bool = False, origin: Mapping[str, str] | None = None,
                    page_size: int = PAGE_SIZE, chunk_size: int = ARCHIVE_CHUNK,
                    progress: Callable[[ExportSummary], None] | None = None) -> ExportSummary:
    """Write everything ``source`` holds to ``out`` as an archive (see the module's docstring).
    A file that is missing or damaged is a problem in the summary and in the archive's
    ``manifest-end.json``, not an exception; a store that becomes unavailable is
    (:class:`~.errors.Unavailable`), leaving ``out`` without its end: an archive the import refuses."""
    summary = ExportSummary()
    started = time.monotonic()
    now = datetime.now(UTC)
    # typeshed's tarfile.open() lacks copybufsize (addfile's copy buffer), which it passes on to TarFile()
    with _compressed(out, compress) as stream, DigestSet() as seen, \
            tarfile.open(fileobj=stream, mode="w|", format=tarfile.PAX_FORMAT,  # type: ignore[call-overload]
                         bufsize=chunk_size, copybufsize=chunk_size) as tar:
        writer = _Writer(tar, int(now.timestamp()))
        writer.json(MANIFEST, {"format": FORMAT, "format_version": FORMAT_VERSION, "service_version": __version__,
                               "created_at": now.isoformat(), "source": dict(origin or {}),
                               "compression": "zstd" if compress else None})
        for number, ids in enumerate(model_id_pages(source.metadata, page_size), 1):
            with writer.lines(f"records/{number:06d}.jsonl") as lines:
                for model_id in ids:
                    record = source.metadata.export_record(model_id)
                    file = record.model.file if record.model is not None else None
                    if file is not None and seen.add(file.sha256):
                        _export_blob(source.blobs, file, record, writer, summary)
                    lines.write(record_to_json(record))
                    summary.records += 1
                    summary.versions += record.model is not None
                    summary.events += len(record.events)
            if progress is not None:
                summary.seconds = time.monotonic() - started
                progress(summary)
        with writer.lines(ALIASES) as lines:
            for alias in source.metadata.all_aliases():
                lines.write(alias_to_json(alias))
                summary.aliases += 1
        with writer.lines(KEYS) as lines:
            for key in source.metadata.list_keys():
                lines.write(key_to_json(key))
                summary.keys += 1
        for number, records in enumerate(audit_pages(source.metadata, page_size), 1):
            with writer.lines(f"audit/{number:06d}.jsonl") as lines:
                for audit in records:
                    lines.write(audit_to_json(audit))
                    summary.audit += 1
        writer.json(MANIFEST_END, {
            "format": FORMAT, "complete": True, "finished_at": datetime.now(UTC).isoformat(),
            "counts": {"records": summary.records, "versions": summary.versions, "events": summary.events,
                       "aliases": summary.aliases, "keys": summary.keys, "audit": summary.audit},
            "blobs": {"members": writer.blob_members, "bytes": writer.blob_bytes,
                      "verified": summary.blobs, "verified_bytes": summary.blob_bytes},
            "members": writer.members,
            "problems": summary.problems,
        })
    summary.seconds = time.monotonic() - started
    return summary


def _export_blob(blobs: BlobStore, file: FileInfo, record: ModelRecord, writer: _Writer,
                 summary: ExportSummary) -> None:
    what = f"file sha256:{file.sha256} of {describe(record)}"
    size = blobs.size(file.sha256)
    if size is not None and size != file.size_bytes:
        summary.problems.append(f"{what} is {size} bytes in the blob store, {file.size_bytes} in its metadata: "
                                f"damaged, left out of the archive")
        return
    try:
        reader = None if size is None else blobs.open(file.sha256)
    except NotFound:
        reader = None
    if reader is None or size is None:
        summary.problems.append(f"{what} is missing from the blob store: left out of the archive")
        return
    try:
        exact = _ExactBytes(reader, size)
        writer.blob(file.sha256, size, exact)
    finally:
        reader.close()
    if exact.missing:
        summary.problems.append(f"{what} ended after {size - exact.missing} of {size} bytes: damaged (the import "
                                f"refuses its member)")
    elif (digest := exact.digest.hexdigest()) != file.sha256:
        summary.problems.append(f"{what} hashes to sha256:{digest} in the blob store: damaged (the import refuses "
                                f"its member)")
    else:
        summary.blobs += 1
        summary.blob_bytes += size


class _ExactBytes:
    """A blob as tarfile reads a member's content: exactly ``size`` bytes (its header said so),
    hashed on the way. A blob that ends early is padded with zeros (``missing`` counts them)."""

    def __init__(self, reader: BlobReader, size: int):
        self._reader = reader
        self._remaining = size
        self.digest = hashlib.sha256()
        self.missing = 0

    def read(self, n: int = -1, /) -> bytes:
        n = self._remaining if n < 0 else min(n, self._remaining)
        parts, got = [], 0
        while got < n:
            chunk = b"" if self.missing else self._reader.read(n - got)[: n - got]
            if not chunk:
                self.missing += n - got
                parts.append(bytes(n - got))
                break
            self.digest.update(chunk)
            parts.append(chunk)
            got += len(chunk)
        self._remaining -= n
        return parts[0] if len(parts) == 1 else b"".join(parts)  # b"" for nothing left


class _Writer:
    """Members into a tar stream; remembers each JSON-lines member for ``manifest-end.json``."""

    def __init__(self, tar: tarfile.TarFile, mtime: int):
        self.tar = tar
        self.mtime = mtime
        self.members: list[dict[str, Any]] = []
        self.blob_members = 0
        self.blob_bytes = 0

    def _info(self, name: str, size: int) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode = size, self.mtime, 0o644
        return info

    def json(self, name: str, document: Mapping[str, Any]) -> None:
        data = json.dumps(document, indent=1).encode() + b"\n"
        self.tar.addfile(self._info(name, len(data)), io.BytesIO(data))

    def blob(self, sha256: str, size: int, content: _ExactBytes) -> None:
        self.tar.addfile(self._info(f"blobs/{sha256}", size), content)
        self.blob_members += 1
        self.blob_bytes += size

    @contextmanager
    def lines(self, name: str) -> Iterator[_Lines]:
        """A JSON-lines member: written when the block ends (not at all if it raises)."""
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY) as spool:
            lines = _Lines(spool)
            yield lines
            size = spool.tell()
            spool.seek(0)
            self.tar.addfile(self._info(name, size), spool)
        self.members.append({"name": name, "size": size, "sha256": lines.digest.hexdigest(), "lines": lines.count})


class _Lines:
    def __init__(self, spool: IO[bytes]):
        self._spool = spool
        self.digest = hashlib.sha256()
        self.count = 0

    def write(self, document: Mapping[str, Any]) -> None:
        data = json.dumps(document, separators=(",", ":")).encode() + b"\n"
        self._spool.write(data)
        self.digest.update(data)
        self.count += 1


class DigestSet:
    """A set of sha256 digests in a private temporary SQLite database (on disk once it outgrows
    SQLite's page cache): memory stays flat however many files a registry has."""

    def __enter__(self) -> DigestSet:
        self._db = sqlite3.connect("")
        self._db.execute("CREATE TABLE seen (digest BLOB PRIMARY KEY) WITHOUT ROWID")
        return self

    def add(self, sha256: str) -> bool:
        """True if ``sha256`` was not in the set yet."""
        return self._db.execute("INSERT OR IGNORE INTO seen VALUES (?)", (bytes.fromhex(sha256),)).rowcount == 1

    def __iter__(self) -> Iterator[str]:
        """The digests, ascending (read in pages: the set may be changed meanwhile)."""
        after = b""
        while rows := self._db.execute("SELECT digest FROM seen WHERE digest > ? ORDER BY digest LIMIT 500",
                                       (after,)).fetchall():
            yield from (row[0].hex() for row in rows)
            after = rows[-1][0]

    def __exit__(self, *exc_info: object) -> None:
        self._db.close()


@contextmanager
def _compressed(out: BinaryIO, compress: bool) -> Iterator[BinaryIO]:
    if not compress:
        yield out
        out.flush()
        return
    import zstandard

    writer = zstandard.ZstdCompressor(level=3).stream_writer(out, closefd=False)
    yield writer
    writer.close()  # ends the frame; ``out`` stays open
    out.flush()


def archive_is_compressed(path: str | os.PathLike[str]) -> bool:
    """Whether a file name asks for Zstandard (``.zst``, ``.tar.zst``, ``.tzst``)."""
    return str(path).endswith((".zst", ".tzst"))
