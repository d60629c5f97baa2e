"""Restoring an archive written by ``model-service export`` (``model-service import``).

The archive's layout, and what an import guarantees, are described in :mod:`.archive`. In
short: one pass over the tar stream; files verified and committed as they arrive; JSON-lines
members spooled to a temporary directory; records, aliases, keys and audit records written
(as :mod:`.transfer` writes them, skipping what is there) only once ``manifest-end.json`` has
arrived and vouched for every member.

What is taken on the archive's word, and what is not (scan verdicts, API keys, audit history),
is the :class:`~.archive_policy.ImportPolicy`'s: see :mod:`.archive_policy`.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import IO, Any, BinaryIO, ClassVar

from .. import __version__
from ..domain.audit import AuditRecord
from ..domain.errors import Malformed, NotFound
from ..domain.ports import ModelRecord
from ..domain.scanning import Verdict
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
    DigestSet,
)
from .archive_codec import decode
from .archive_policy import MAX_LISTED, ImportMark, ImportPolicy, Rescanner, marked, record_of_import, refusal
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


VERDICT_ORDER = (Verdict.UNSAFE, Verdict.SUSPICIOUS, Verdict.UNSCANNED, Verdict.SAFE)


@dataclass
class ImportSummary(TransferSummary):
    """What an import did (:class:`~.transfer.TransferSummary`'s counts), what the archive is
    (``archive``: its manifest; ``archive_sha256``: the file's digest) and what its export
    reported (``export_problems``). ``scanned``: versions whose file was scanned again, by
    ``verdicts``; ``rescanned_differently``: those whose verdict is not the archive's (the first
    :data:`~.archive_policy.MAX_LISTED`); ``refused_unsafe``: versions refused under
    ``REJECT_UNSAFE_MODELS``; ``keys_ignored``: the archive's keys, not imported without
    ``with_keys``."""

    blobs_rejected: int = 0
    archive: dict[str, Any] = field(default_factory=dict)
    archive_sha256: str = ""
    export_problems: list[str] = field(default_factory=list)
    scanned: int = 0
    verdicts: dict[str, int] = field(default_factory=dict)
    verdicts_changed: int = 0
    rescanned_differently: list[str] = field(default_factory=list)
    refused_unsafe: int = 0
    with_keys: bool = False
    keys_ignored: int = 0

    verb: ClassVar[str] = "imported"

    def lines(self) -> list[str]:
        head = [f"archive: format {self.archive.get('format_version')}, written by model-service "
                f"{self.archive.get('service_version')} at {self.archive.get('created_at')}",
                f"archive sha256:{self.archive_sha256}"]
        if self.export_problems:
            head += [f"problems the export reported: {len(self.export_problems)}",
                     *(f"  - {problem}" for problem in self.export_problems)]
        body = super().lines()
        if not self.with_keys:
            body = [f"API keys: not imported ({self.keys_ignored} in the archive; --with-keys imports them)"
                    if line.startswith("API keys:") else line for line in body]
        counts = ", ".join(f"{verdict}: {self.verdicts[verdict]}" for verdict in VERDICT_ORDER
                           if self.verdicts.get(verdict))
        scans = [f"files scanned again: {self.scanned}" + (f" ({counts})" if counts else "")
                 + f"; verdicts that differ from the archive's: {self.verdicts_changed}",
                 *(f"  - {notice}" for notice in self.rescanned_differently)]
        if self.refused_unsafe:
            scans.append(f"versions refused as unsafe (REJECT_UNSAFE_MODELS): {self.refused_unsafe}")
        at = body.index(f"failures: {len(self.failures)}")
        files = next(index for index, line in enumerate(body) if line.startswith("files:")) + 1
        return [*head, *body[:files], *scans, *body[files:at],
                f"skipped: {self.skipped}; files refused as damaged: {self.blobs_rejected}", *body[at:]]

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def import_registry(source: BinaryIO, target: Stores, policy: ImportPolicy, *, chunk_size: int = ARCHIVE_CHUNK,
                    progress: Callable[[ImportSummary], None] | None = None) -> ImportSummary:
    """Restore an archive into ``target`` (its metadata store prepared), as the module's
    docstring says, taking of it what ``policy`` says. :class:`~.errors.Malformed` (code
    ``invalid_archive``) if ``source`` is not an archive of this service or is truncated, with
    no metadata written."""
    summary = ImportSummary(with_keys=policy.with_keys)
    started = time.monotonic()
    digesting = _Digesting(source)
    with tempfile.TemporaryDirectory(prefix="model-service-import-") as spool, DigestSet() as refused:
        reader = _ArchiveReader(target, Path(spool), summary, chunk_size, policy, refused)
        stream = io.BufferedReader(digesting)  # reads of a chunk go straight through to the source
        try:
            # typeshed's fileobj is for every mode; a stream ("r|") is only ever read: _ZstdReader has read() alone
            with tarfile.open(fileobj=_decompressed(stream), mode="r|", bufsize=chunk_size) as tar:  # type: ignore[call-overload]
                reader.read(tar)
        except tarfile.TarError as exc:  # a member cut short, a stream that is not tar (or zstd) at all
            reader.truncated(str(exc))
        summary.archive_sha256 = digesting.rest(chunk_size)  # what follows the tar's end counts too
        reader.write_metadata(progress, started)
    summary.seconds = time.monotonic() - started
    return summary


class _Digesting(io.RawIOBase):
    """The archive's bytes as read, hashed on the way: the digest is the file's ``sha256sum``."""

    def __init__(self, source: BinaryIO):
        self._source = source
        self._digest = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        readinto = getattr(self._source, "readinto", None)  # files and standard input have it: no copy
        if readinto is not None:
            count = readinto(buffer) or 0
            self._digest.update(memoryview(buffer)[:count])
            return count
        data = self._source.read(len(buffer))
        buffer[:len(data)] = data
        self._digest.update(data)
        return len(data)

    def rest(self, chunk_size: int) -> str:
        """Read what is left to the end; the digest of the whole."""
        while chunk := self._source.read(chunk_size):
            self._digest.update(chunk)
        return self._digest.hexdigest()


@dataclass(frozen=True, slots=True)
class _Spooled:
    path: Path
    size: int
    sha256: str


class _ArchiveReader:
    def __init__(self, target: Stores, spool: Path, summary: ImportSummary, chunk_size: int, policy: ImportPolicy,
                 refused: DigestSet):
        self.target = target
        self.spool = spool
        self.summary = summary
        self.chunk_size = chunk_size
        self.policy = policy
        self.rescanner = Rescanner(policy, target.blobs, spool, chunk_size)
        self.refused = refused  # files of versions refused as unsafe: removed at the end unless referenced
        self.refused_ids: list[str] = []
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
        summary, metadata = self.summary, self.target.metadata
        mark = ImportMark(summary.archive_sha256, self.policy.actor, self.policy.clock())
        for name, path in self._usable():
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
            elif kind == "keys" and self.policy.with_keys:
                put_keys(metadata, items, summary)
            elif kind == "keys":
                summary.keys_ignored += sum(1 for _ in items)
            else:
                put_audit(metadata, self._marked(items, mark), summary)
        for sha256 in self.refused:
            metadata.delete_blob_if_unreferenced(sha256, self.target.blobs.delete)
        metadata.append_audit(record_of_import(mark, {
            "with_keys": self.policy.with_keys, "records_copied": summary.records_copied,
            "versions_copied": summary.versions_copied, "keys_copied": summary.keys_copied,
            "audit_copied": summary.audit_copied, "refused_unsafe": summary.refused_unsafe,
            "refused_model_ids": self.refused_ids, "failures": len(summary.failures)}))
        metadata.refresh_statistics()

    def _usable(self) -> list[tuple[str, Path]]:
        """The JSON-lines members the end manifest vouches for, in its order; the others are failures."""
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
        return usable

    @staticmethod
    def _marked(records: Iterable[AuditRecord], mark: ImportMark) -> Iterator[AuditRecord]:
        for record in records:
            yield marked(record, mark)

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
        model = record.model
        file = model.file if model is not None else None
        if model is None or file is None or self._present(record.model_id):
            put_record(self.target.metadata, record, self.summary)  # nothing to scan, or nothing to write
            return
        size = self.target.blobs.size(file.sha256)
        if size is None or size != file.size_bytes:
            reason = ("is damaged in the archive" if file.sha256 in self.rejected else "is not in the archive"
                      ) if size is None else f"is {size} bytes, not the {file.size_bytes} its record says"
            self.summary.skipped += 1
            self._failure(f"{describe(record)}: its file sha256:{file.sha256} {reason}: not imported")
            return
        scan = self.rescanner.scan(file)
        self._count(record, file.scan.verdict.value if file.scan is not None else "not recorded", scan.verdict)
        refused = refusal(scan) if self.policy.reject_unsafe else None
        if refused is not None:
            self.summary.skipped += 1
            self.summary.refused_unsafe += 1
            self.refused.add(file.sha256)
            if len(self.refused_ids) < MAX_LISTED:
                self.refused_ids.append(record.model_id)
            self._failure(f"{describe(record)}: {refused}: not imported")
            return
        put_record(self.target.metadata, replace(record, model=replace(model, file=replace(file, scan=scan))),
                   self.summary)

    def _present(self, model_id: str) -> bool:
        """Whether the target has the version already (an import run again): then it is not scanned."""
        try:
            self.target.metadata.get(model_id)
        except NotFound:
            return False
        return True

    def _count(self, record: ModelRecord, claimed: str, verdict: Verdict) -> None:
        summary = self.summary
        summary.scanned += 1
        summary.verdicts[verdict.value] = summary.verdicts.get(verdict.value, 0) + 1
        if claimed != verdict.value:
            summary.verdicts_changed += 1
            if len(summary.rescanned_differently) < MAX_LISTED:
                summary.rescanned_differently.append(
                    f"{describe(record)}: the archive says {claimed}, the scan says {verdict.value}")

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
