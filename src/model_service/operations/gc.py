"""Garbage collection (``model-service gc``): blobs no version references, and what uploads left
in temporary space.

Unreferenced blobs arise only from crashes: a process that died between committing a blob and
committing the metadata that references it (or, on MongoDB, while deleting a version). Each is
deleted through :meth:`MetadataStore.delete_blob_if_unreferenced`, under the same per-sha256
serialisation that uploads and deletions hold, which checks again that no version references
it. So an upload that is committing the same content at that moment either finishes first (the
blob is kept) or finds the blob gone and writes it again from its own temporary bytes: a
committed version's blob is never removed.

Temporary uploads (local ``tmp/`` files, S3 temporary objects and unfinished multipart
uploads, GridFS pending files and stray chunks) are removed only once older than a threshold
(default a day), so that uploads in flight are left alone.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ..domain.errors import RegistryError
from ..domain.ports import BlobStore, Leftover, MetadataStore, StoredBlob
from .inventory import walk

log = logging.getLogger(__name__)

DEFAULT_TEMP_AGE = timedelta(hours=24)


@dataclass
class GcReport:
    """What a collection removed (or, in a dry run, would remove)."""

    dry_run: bool
    blobs_scanned: int = 0
    orphans: list[StoredBlob] = field(default_factory=list)
    kept: list[StoredBlob] = field(default_factory=list)
    """Unreferenced when listed, referenced by the time they were to be deleted: kept."""
    leftovers: list[Leftover] = field(default_factory=list)
    bytes_reclaimed: int = 0
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_json(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "blobs_scanned": self.blobs_scanned,
            "orphan_blobs": [{"sha256": b.key, "size_bytes": b.size, "modified": b.modified.isoformat()}
                             for b in self.orphans],
            "kept_blobs": [{"sha256": b.key, "size_bytes": b.size} for b in self.kept],
            "temp_uploads": [{"kind": t.kind, "name": t.name, "size_bytes": t.size, "started": t.started.isoformat()}
                             for t in self.leftovers],
            "bytes_reclaimed": self.bytes_reclaimed,
            "errors": self.errors,
            "seconds": round(self.seconds, 3),
        }

    def lines(self) -> list[str]:
        verb = "would remove" if self.dry_run else "removed"
        lines = [f"blobs scanned: {self.blobs_scanned}"]
        lines += [f"{verb} unreferenced blob {b.key} ({b.size:,} bytes, written {b.modified:%Y-%m-%d %H:%M})"
                  for b in self.orphans]
        lines += [f"kept blob {b.key}: a version references it now" for b in self.kept]
        lines += [f"{verb} temporary upload {t.kind} {t.name} ({t.size:,} bytes, from {t.started:%Y-%m-%d %H:%M})"
                  for t in self.leftovers]
        lines += [f"error: {error}" for error in self.errors]
        lines.append(f"{'would reclaim' if self.dry_run else 'reclaimed'} {self.bytes_reclaimed:,} bytes "
                     f"({len(self.orphans)} blobs, {len(self.leftovers)} temporary uploads) "
                     f"in {self.seconds:.1f} s")
        return lines


def collect(metadata: MetadataStore, blobs: BlobStore, *, now: datetime, dry_run: bool = False,
            temp_older_than: timedelta = DEFAULT_TEMP_AGE, orphans_older_than: timedelta = timedelta(0)) -> GcReport:
    """Remove unreferenced blobs written before ``now - orphans_older_than`` and temporary
    uploads last written before ``now - temp_older_than``; with ``dry_run``, only list them."""
    report = GcReport(dry_run=dry_run)
    started = time.monotonic()
    orphan_cutoff = now - orphans_older_than
    for entry in walk(metadata, blobs):
        if entry.blob is None:
            continue
        report.blobs_scanned += 1
        if entry.references or entry.blob.modified >= orphan_cutoff:
            continue
        _remove_orphan(metadata, blobs, entry.blob, report)
    for upload in blobs.leftovers(now - temp_older_than):
        if dry_run:
            report.leftovers.append(upload)
            report.bytes_reclaimed += upload.size
            continue
        try:
            report.bytes_reclaimed += blobs.remove_leftover(upload)
            report.leftovers.append(upload)
        except RegistryError as exc:
            report.errors.append(f"temporary upload {upload.kind} {upload.name}: {exc.message}")
    report.seconds = time.monotonic() - started
    return report


def _remove_orphan(metadata: MetadataStore, blobs: BlobStore, blob: StoredBlob, report: GcReport) -> None:
    if report.dry_run:
        report.orphans.append(blob)
        report.bytes_reclaimed += blob.size
        return
    try:
        removed = metadata.delete_blob_if_unreferenced(blob.key, blobs.delete)
    except RegistryError as exc:
        report.errors.append(f"blob {blob.key}: {exc.message}")
        return
    if removed:
        log.info("gc: removed unreferenced blob %s (%d bytes)", blob.key, blob.size)
        report.orphans.append(blob)
        report.bytes_reclaimed += blob.size
    else:
        report.kept.append(blob)
