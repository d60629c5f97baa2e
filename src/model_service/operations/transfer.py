"""Copying a whole registry from one pair of stores to another (``model-service migrate``).

For every model id, oldest first: its file's blob is copied if the target lacks it — streamed,
hashed on the way and committed only if the bytes hash to the content address they are stored
under — then its record (the version and its events) is imported. Aliases follow once every
record is there. A record whose blob could not be copied is left out and reported, so the
target never holds a version whose file is missing or altered.

Then API keys (their hashes, revoked and expired ones too) and the audit log, record by record.

Every step is idempotent (a blob already in the target is kept, a record, key or audit record
already there is not written again), so after an interruption — or a store becoming unavailable, which stops the
copy — the same command completes it.

The pieces are shared with ``model-service export`` / ``import`` (:mod:`.archive`): reading a
registry page by page (:func:`model_id_pages`, :func:`audit_pages`), writing a blob only once its
bytes are verified (:func:`write_verified`), and writing records, aliases, keys and audit records
that are not there yet, counted in a :class:`TransferSummary` (:func:`put_record`,
:func:`put_aliases`, :func:`put_keys`, :func:`put_audit`).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import ClassVar

from ..domain.audit import AuditQuery, AuditRecord
from ..domain.errors import Conflict, RegistryError, Unavailable
from ..domain.keys import ApiKey
from ..domain.models import Alias, FileInfo
from ..domain.ports import BlobStore, MetadataStore, ModelRecord

CHUNK_SIZE = 4 << 20
PAGE_SIZE = 500


@dataclass(frozen=True, slots=True)
class Stores:
    metadata: MetadataStore
    blobs: BlobStore


@dataclass
class TransferSummary:
    records_copied: int = 0
    records_present: int = 0
    versions_copied: int = 0
    events_copied: int = 0
    blobs_copied: int = 0
    blob_bytes_copied: int = 0
    blobs_present: int = 0
    aliases_copied: int = 0
    aliases_present: int = 0
    keys_copied: int = 0
    keys_present: int = 0
    audit_copied: int = 0
    audit_present: int = 0
    skipped: int = 0  # records, aliases, keys and audit records left out (each also in ``failures``)
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0

    verb: ClassVar[str] = "copied"

    @property
    def ok(self) -> bool:
        return not self.failures

    def lines(self) -> list[str]:
        mib = self.blob_bytes_copied / (1 << 20)
        verb = self.verb
        return [
            f"records (a version and its events, or the events of a deleted version): "
            f"{self.records_copied} {verb}, {self.records_present} already there",
            f"versions {verb}: {self.versions_copied}; events {verb}: {self.events_copied}",
            f"files: {self.blobs_copied} {verb} ({mib:,.1f} MiB, each sha256 verified), "
            f"{self.blobs_present} already there",
            f"aliases: {self.aliases_copied} {verb}, {self.aliases_present} already there",
            f"API keys: {self.keys_copied} {verb}, {self.keys_present} already there",
            f"audit records: {self.audit_copied} {verb}, {self.audit_present} already there",
            f"failures: {len(self.failures)}",
            *(f"  - {failure}" for failure in self.failures),
            f"time: {self.seconds:.1f} s",
        ]


class BlobCopyError(Exception):
    """A blob could not be copied intact; the message says why."""


# ---- reading a registry page by page ------------------------------------------------------------

def model_id_pages(metadata: MetadataStore, page_size: int = PAGE_SIZE) -> Iterator[list[str]]:
    """Every model id (versions and deleted versions whose events remain), ascending, in pages."""
    after: str | None = None
    while ids := metadata.model_ids(after=after, limit=page_size):
        yield ids
        after = ids[-1]


def audit_pages(metadata: MetadataStore, page_size: int = PAGE_SIZE) -> Iterator[list[AuditRecord]]:
    """The whole audit log, newest first, in pages."""
    before = None
    while records := metadata.audit_records(AuditQuery(before=before, limit=page_size)):
        yield records
        before = (records[-1].at, records[-1].id)


# ---- blobs ------------------------------------------------------------------------------------

def write_verified(read: Callable[[int], bytes], target: BlobStore, sha256: str, size_bytes: int | None, *,
                   chunk_size: int = CHUNK_SIZE) -> bool:
    """Stream ``read``'s bytes into a new blob of ``target``, hashing them on the way, and commit
    it under ``sha256`` only if they hash to it (and are ``size_bytes`` long, unless None);
    otherwise :class:`BlobCopyError` and nothing is kept. Memory: one chunk. Returns
    :meth:`~.ports.TempBlob.commit`'s answer (False: the target had the blob meanwhile)."""
    upload = target.begin_upload()
    try:
        digest, size = hashlib.sha256(), 0
        while chunk := read(chunk_size):
            digest.update(chunk)
            size += len(chunk)
            upload.write(chunk)
        upload.finish()
        expected = size if size_bytes is None else size_bytes
        if digest.hexdigest() != sha256 or size != expected:
            raise BlobCopyError(f"file sha256:{sha256} arrived as sha256:{digest.hexdigest()} "
                                f"({size} of {expected} bytes): not copied")
        return upload.commit(sha256)
    finally:
        upload.abort()


def copy_blob(source: BlobStore, target: BlobStore, file: FileInfo) -> bool:
    """Copy one blob unless the target has it; True if copied. The bytes are hashed on the way
    and committed only if they match ``file.sha256`` and ``file.size_bytes``."""
    if target.size(file.sha256) is not None:
        return False
    if source.size(file.sha256) is None:
        raise BlobCopyError(f"file sha256:{file.sha256} is missing from the source")
    reader = source.open(file.sha256)
    try:
        write_verified(reader.read, target, file.sha256, file.size_bytes)
        return True
    finally:
        reader.close()


# ---- writing records that are not there yet -----------------------------------------------------

def describe(record: ModelRecord) -> str:
    """A record as a summary names it."""
    model = record.model
    return f"{model.name} {model.version} ({record.model_id})" if model is not None \
        else f"deleted version {record.model_id}"


def put_record(target: MetadataStore, record: ModelRecord, summary: TransferSummary) -> None:
    """Import one record (its blob already in place), counted; a refusal is a failure."""
    try:
        if target.import_record(record):
            summary.records_copied += 1
            summary.versions_copied += record.model is not None
            summary.events_copied += len(record.events)
        else:
            summary.records_present += 1
    except Unavailable:
        raise  # a store is down: stop here, the same command resumes the copy later
    except RegistryError as exc:
        summary.skipped += 1
        summary.failures.append(f"{describe(record)}: {exc.message}")


def put_aliases(target: MetadataStore, aliases: Iterable[Alias], summary: TransferSummary) -> None:
    for alias in aliases:
        try:
            if target.import_alias(alias):
                summary.aliases_copied += 1
            else:
                summary.aliases_present += 1
        except Unavailable:
            raise
        except RegistryError as exc:
            summary.skipped += 1
            summary.failures.append(f"alias {alias.name}@{alias.alias}: {exc.message}")


def put_keys(target: MetadataStore, keys: Iterable[ApiKey], summary: TransferSummary) -> None:
    """Every key as it is (its hash: the keys themselves are nowhere), so a team keeps its keys."""
    for key in keys:
        try:
            target.add_key(key)
            summary.keys_copied += 1
        except Conflict:
            summary.keys_present += 1


def put_audit(target: MetadataStore, records: Iterable[AuditRecord], summary: TransferSummary) -> None:
    for record in records:
        if target.append_audit(record):
            summary.audit_copied += 1
        else:
            summary.audit_present += 1


# ---- the copy ---------------------------------------------------------------------------------

def copy_registry(source: Stores, target: Stores, *, progress: Callable[[TransferSummary], None] | None = None,
                  page_size: int = PAGE_SIZE, same_blobs: bool = False) -> TransferSummary:
    """Copy everything from ``source`` to ``target`` (both metadata stores prepared). With
    ``same_blobs`` (both sides share one blob store) files are only checked to exist."""
    summary = TransferSummary()
    started = time.monotonic()
    for ids in model_id_pages(source.metadata, page_size):
        for model_id in ids:
            _copy_record(source, target, model_id, summary, same_blobs)
        if progress is not None:
            summary.seconds = time.monotonic() - started
            progress(summary)
    put_aliases(target.metadata, source.metadata.all_aliases(), summary)
    put_keys(target.metadata, source.metadata.list_keys(), summary)
    for records in audit_pages(source.metadata, page_size):
        put_audit(target.metadata, records, summary)
    target.metadata.refresh_statistics()
    summary.seconds = time.monotonic() - started
    return summary


def _copy_record(source: Stores, target: Stores, model_id: str, summary: TransferSummary, same_blobs: bool) -> None:
    record = source.metadata.export_record(model_id)
    file = record.model.file if record.model is not None else None
    try:
        if file is not None:
            if same_blobs:
                if target.blobs.size(file.sha256) is None:
                    raise BlobCopyError(f"file sha256:{file.sha256} is missing from the blob store")
            elif copy_blob(source.blobs, target.blobs, file):
                summary.blobs_copied += 1
                summary.blob_bytes_copied += file.size_bytes
            else:
                summary.blobs_present += 1
    except Unavailable:
        raise  # a store is down: stop here, the same command resumes the copy later
    except (BlobCopyError, RegistryError) as exc:
        summary.skipped += 1
        summary.failures.append(f"{describe(record)}: {exc.message if isinstance(exc, RegistryError) else exc}")
        return
    put_record(target.metadata, record, summary)
