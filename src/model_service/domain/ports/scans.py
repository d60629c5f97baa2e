"""The metadata store's stored verdicts, as a re-scan walks and replaces them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from ..audit import AuditHook
from ..models import ModelVersion
from ..rescanning import Staleness
from ..scanning import ScanResult


@dataclass(frozen=True, slots=True)
class ScanReference:
    """A version whose file's stored scan is stale, as :meth:`ScanRecords.files_to_rescan` lists
    them: its file (sha256, format, size) and the scan stored (None: none)."""

    sha256: str
    model_id: str
    name: str
    version: str
    format: str | None
    size_bytes: int
    scan: ScanResult | None


class ScanRecords(Protocol):
    def files_to_rescan(self, stale: Staleness, after: tuple[str, str] | None = None,
                        limit: int = 500) -> list[ScanReference]:
        """The versions whose file's stored scan ``stale`` calls stale (:meth:`Staleness.why` is
        not None), ascending by ``(sha256, model_id)``, only those after ``after`` in that order
        (``(sha256, "")`` starts at that sha256's first), at most ``limit``: keyset pages, so
        that the versions sharing a blob come one after another. Versions without a file and
        versions being deleted are not listed. Translated into the store's own query language
        over the stored scan's fields: never by filtering in Python."""

    def record_scan(self, model_id: str, expected: ScanResult | None, scan: ScanResult, actor: str, at: datetime,
                    audit: AuditHook | None = None) -> ModelVersion:
        """Replace the stored scan of the version's file with ``scan``, atomically with a
        ``scanned`` event (:func:`~..plans.scans.plan_rescan`), and return the version. A
        compare-and-swap on the stored scan: if it is not ``expected`` (None: no scan stored)
        when the write takes effect, :class:`Conflict` ``scan_conflict`` and nothing changes, so
        concurrent re-scans of one file (replicas) record one verdict each only over the one
        they read. :class:`NotFound` ``model_not_found`` if the version does not exist (or is
        being deleted), ``file_not_found`` if it has no file. Other changes (an update, a
        download) made meanwhile are kept; ``updated_at`` does not change."""
