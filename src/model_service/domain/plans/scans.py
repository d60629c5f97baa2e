"""A file scanned again: its new verdict replaces the stored one, if that is still the one read."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from .. import refusals
from ..models import Event, EventKind, ModelVersion
from ..scanning import NOT_RECORDED_RESULT, ScanResult


@dataclass(frozen=True, slots=True)
class Rescan:
    """The version with its file's new scan, and the ``scanned`` event ``{"checksum", "from",
    "to", "from_scanner_version", "to_scanner_version"}`` (``from``: ``unscanned`` for a file
    that had no verdict stored)."""

    model: ModelVersion
    event: Event


def scanned(model: ModelVersion, before: ScanResult | None, after: ScanResult, actor: str, at: datetime) -> Event:
    shown = before or NOT_RECORDED_RESULT
    return Event(model_id=model.id, model_name=model.name, kind=EventKind.SCANNED, actor=actor, at=at, data={
        "checksum": None if model.file is None else model.file.checksum,
        "from": shown.verdict.value, "to": after.verdict.value,
        "from_scanner_version": shown.scanner_version, "to_scanner_version": after.scanner_version,
    })


def plan_rescan(current: ModelVersion, expected: ScanResult | None, scan: ScanResult, actor: str,
                at: datetime) -> Rescan:
    """Record ``scan`` on ``current``'s file, whose stored scan the re-scan read as ``expected``
    (None: none stored). A compare-and-swap: if the stored scan is not ``expected`` any more
    (another re-scan recorded its own), :class:`~..errors.Conflict` ``scan_conflict``, so a stale
    re-scan never overwrites a newer one; :class:`~..errors.NotFound` ``file_not_found`` for a
    version without a file. The version's ``updated_at`` stays: its fields did not change."""
    file = current.file
    if file is None:
        raise refusals.file_not_found(current.id)
    if file.scan != expected:
        raise refusals.scan_changed(current.id)
    return Rescan(replace(current, file=replace(file, scan=scan)), scanned(current, expected, scan, actor, at))
