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
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .audit import AuditQuery
from .errors import Conflict, RegistryError, Unavailable
from .models import FileInfo
from .ports import BlobStore, MetadataStore

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
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failures

    def lines(self) -> list[str]:
        mib = self.blob_bytes_copied / (1 << 20)
        return [
            f"records (a version and its events, or the events of a deleted version): "
            f"{self.records_copied} copied, {self.records_present} already there",
            f"versions copied: {self.versions_copied}; events copied: {self.events_copied}",
            f"files: {self.blobs_copied} copied ({mib:,.1f} MiB, each sha256 verified), "
            f"{self.blobs_present} already there",
            f"aliases: {self.aliases_copied} copied, {self.aliases_present} already there",
            f"API keys: {self.keys_copied} copied, {self.keys_present} already there",
            f"audit records: {self.audit_copied} copied, {self.audit_present} already there",
            f"failures: {len(self.failures)}",
            *(f"  - {failure}" for failure in self.failures),
            f"time: {self.seconds:.1f} s",
        ]


class BlobCopyError(Exception):
    """A blob could not be copied intact; the message says why."""


def copy_blob(source: BlobStore, target: BlobStore, file: FileInfo) -> bool:
    """Copy one blob unless the target has it; True if copied. The bytes are hashed on the way
    and committed only if they match ``file.sha256`` and ``file.size_bytes``."""
    if target.size(file.sha256) is not None:
        return False
    if source.size(file.sha256) is None:
        raise BlobCopyError(f"file sha256:{file.sha256} is missing from the source")
    reader = source.open(file.sha256)
    upload = target.begin_upload()
    try:
        digest, size = hashlib.sha256(), 0
        while chunk := reader.read(CHUNK_SIZE):
            digest.update(chunk)
            size += len(chunk)
            upload.write(chunk)
        upload.finish()
        if digest.hexdigest() != file.sha256 or size != file.size_bytes:
            raise BlobCopyError(f"file sha256:{file.sha256} arrived as sha256:{digest.hexdigest()} "
                                f"({size} of {file.size_bytes} bytes): not copied")
        upload.commit(file.sha256)
        return True
    finally:
        reader.close()
        upload.abort()


def copy_registry(source: Stores, target: Stores, *, progress: Callable[[TransferSummary], None] | None = None,
                  page_size: int = PAGE_SIZE, same_blobs: bool = False) -> TransferSummary:
    """Copy everything from ``source`` to ``target`` (both metadata stores prepared). With
    ``same_blobs`` (both sides share one blob store) files are only checked to exist."""
    summary = TransferSummary()
    started = time.monotonic()
    after: str | None = None
    while ids := source.metadata.model_ids(after=after, limit=page_size):
        for model_id in ids:
            _copy_record(source, target, model_id, summary, same_blobs)
        after = ids[-1]
        if progress is not None:
            summary.seconds = time.monotonic() - started
            progress(summary)
    for alias in source.metadata.all_aliases():
        try:
            if target.metadata.import_alias(alias):
                summary.aliases_copied += 1
            else:
                summary.aliases_present += 1
        except RegistryError as exc:
            summary.failures.append(f"alias {alias.name}@{alias.alias}: {exc.message}")
    _copy_keys(source.metadata, target.metadata, summary)
    _copy_audit(source.metadata, target.metadata, summary, page_size)
    target.metadata.refresh_statistics()
    summary.seconds = time.monotonic() - started
    return summary


def _copy_keys(source: MetadataStore, target: MetadataStore, summary: TransferSummary) -> None:
    """Every key as it is (its hash: the keys themselves are nowhere), so a team keeps its keys."""
    for key in source.list_keys():
        try:
            target.add_key(key)
            summary.keys_copied += 1
        except Conflict:
            summary.keys_present += 1


def _copy_audit(source: MetadataStore, target: MetadataStore, summary: TransferSummary, page_size: int) -> None:
    before = None
    while records := source.audit_records(AuditQuery(before=before, limit=page_size)):
        for record in records:
            if target.append_audit(record):
                summary.audit_copied += 1
            else:
                summary.audit_present += 1
        before = (records[-1].at, records[-1].id)


def _copy_record(source: Stores, target: Stores, model_id: str, summary: TransferSummary, same_blobs: bool) -> None:
    record = source.metadata.export_record(model_id)
    model = record.model
    try:
        if model is not None and model.file is not None:
            if same_blobs:
                if target.blobs.size(model.file.sha256) is None:
                    raise BlobCopyError(f"file sha256:{model.file.sha256} is missing from the blob store")
            elif copy_blob(source.blobs, target.blobs, model.file):
                summary.blobs_copied += 1
                summary.blob_bytes_copied += model.file.size_bytes
            else:
                summary.blobs_present += 1
        if target.metadata.import_record(record):
            summary.records_copied += 1
            summary.versions_copied += model is not None
            summary.events_copied += len(record.events)
        else:
            summary.records_present += 1
    except Unavailable:
        raise  # a store is down: stop here, the same command resumes the copy later
    except (BlobCopyError, RegistryError) as exc:
        what = f"{model.name} {model.version} ({model_id})" if model is not None else f"deleted version {model_id}"
        message = exc.message if isinstance(exc, RegistryError) else str(exc)
        summary.failures.append(f"{what}: {message}")
