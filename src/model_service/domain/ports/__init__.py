"""The storage ports. Each backend implements one of these protocols; the semantics stated in the
docstrings are what ``tests/contract`` checks against every backend.

The metadata store's port is grouped by concern, one module each, and a backend keeps one file
per concern: :mod:`.records` (versions and their events), :mod:`.figures` (aggregates),
:mod:`.aliases`, :mod:`.keys`, :mod:`.audit`, :mod:`.maintenance` (start-up, health, blob
references, copies between stores) and :mod:`.scans` (stored verdicts, re-scanned). :mod:`.blobs`
is the blob store's port.

Every port is synchronous: the HTTP layer calls them from worker threads. Backends raise only
:mod:`model_service.domain.errors` exceptions (a driver's own exceptions are translated at the
backend's edge) — :class:`~..errors.NotFound`, :class:`~..errors.Conflict` and, when the backend
itself is unreachable or full, :class:`~..errors.Unavailable`.
"""

from __future__ import annotations

from typing import Protocol

from .aliases import AliasStore
from .audit import AuditLog
from .blobs import BlobReader, BlobStore, Leftover, StoredBlob, TempBlob
from .figures import COUNTED_FIELDS, Figures
from .health import Health
from .keys import KeyStore
from .maintenance import FileReference, Maintenance, ModelRecord
from .observer import NoObserver, RegistryObserver
from .records import Page, VersionRecords
from .scans import ScanRecords, ScanReference

__all__ = [
    "COUNTED_FIELDS",
    "AliasStore",
    "AuditLog",
    "BlobReader",
    "BlobStore",
    "Figures",
    "FileReference",
    "Health",
    "KeyStore",
    "Leftover",
    "Maintenance",
    "MetadataStore",
    "ModelRecord",
    "NoObserver",
    "Page",
    "RegistryObserver",
    "ScanRecords",
    "ScanReference",
    "StoredBlob",
    "TempBlob",
    "VersionRecords",
]


class MetadataStore(VersionRecords, Figures, AliasStore, KeyStore, AuditLog, Maintenance, ScanRecords, Protocol):
    """Everything the registry keeps besides the files' bytes, on one backend."""
