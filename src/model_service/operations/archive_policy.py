"""What an import trusts of an archive: nothing it cannot check.

An archive is a file anyone could have written: the sha256 digests of ``manifest-end.json`` tell
a damaged archive from a whole one, not who wrote it. So :mod:`.archive_import` takes from it only
what it can verify or what is marked as the archive's word:

* **Scan verdicts.** Every file is scanned again as it is imported, with the scanner the server
  uses (``SCAN_MODELS``, ``SCAN_TIMEOUT``, …), and the version keeps the new verdict, never the
  archive's. Under ``REJECT_UNSAFE_MODELS`` a version whose file is ``unsafe`` is refused as an
  upload would be: left out (with the aliases that point at it), reported, and its file removed
  from the target unless a version there references it.
* **API keys.** Not imported unless asked for (``with_keys``): a key hash in an archive is a key
  to the registry for whoever knows the key.
* **Audit records.** Imported as the archive's history, each marked in its ``details``:
  ``details.imported = {"archive_sha256", "by", "at"}`` (the archive file's sha256, the importing
  actor, when). A mark the archive's record already carries is kept under ``earlier``, as what the
  archive says. The import itself is one native record (``registry.import``).
"""

from __future__ import annotations

import tempfile
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..domain.audit import Action, AuditRecord, millisecond
from ..domain.ids import new_id
from ..domain.models import FileInfo
from ..domain.ports import BlobStore
from ..domain.scanning import HEAD_SIZE, ModelScanner, Plan, ScanResult, Verdict, assess, plan

CACHE_SIZE = 256  # (file, format) verdicts remembered, for versions that share a file
MAX_LISTED = 100  # verdict changes and refused versions listed one by one (the counts are exact)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class ImportPolicy:
    """How an import treats what an archive says. ``scanner``: the scanner the server would use
    (None: ``SCAN_MODELS=false``, every file ``unscanned``); ``reject_unsafe``: refuse versions
    whose file is ``unsafe``; ``with_keys``: import the archive's API keys (their hashes then
    authenticate); ``actor``: who imports (the ``by`` of every imported audit record)."""

    scanner: ModelScanner | None
    actor: str
    reject_unsafe: bool = False
    with_keys: bool = False
    clock: Callable[[], datetime] = utcnow


class Rescanner:
    """The scan of a file already in the target's blob store. Only as much of it as the scan
    needs is copied to a local temporary file (in ``spool``): its first bytes when its format
    and those bytes decide the verdict alone, the whole file, a chunk at a time, for the pickle
    family. The copy is removed once scanned."""

    def __init__(self, policy: ImportPolicy, blobs: BlobStore, spool: Path, chunk_size: int):
        self.policy = policy
        self.blobs = blobs
        self.spool = spool
        self.chunk_size = chunk_size
        self._cache: OrderedDict[tuple[str, str | None], ScanResult] = OrderedDict()

    def scan(self, file: FileInfo) -> ScanResult:
        key = (file.sha256, file.format)
        if (cached := self._cache.get(key)) is not None:
            self._cache.move_to_end(key)
            return cached
        result = self._scan(file)
        self._cache[key] = result
        if len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return result

    def _scan(self, file: FileInfo) -> ScanResult:
        now = self.policy.clock()
        scanner = self.policy.scanner
        if scanner is None:
            return assess(None, None, file.format, file.size_bytes, now)
        with tempfile.NamedTemporaryFile(dir=self.spool, prefix="scan-", suffix=".part") as copy:
            reader = self.blobs.open(file.sha256)
            try:
                head = _read_exactly(reader.read, HEAD_SIZE)
                copy.write(head)
                if plan(file.format, head, file.size_bytes).plan is Plan.SCAN:
                    while chunk := reader.read(self.chunk_size):
                        copy.write(chunk)
            finally:
                reader.close()
            copy.flush()
            return assess(scanner, Path(copy.name), file.format, file.size_bytes, now)


def _read_exactly(read: Callable[[int], bytes], size: int) -> bytes:
    parts, got = [], 0
    while got < size and (chunk := read(size - got)):
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def refusal(scan: ScanResult) -> str | None:
    """Why a version whose file scanned so is refused under ``REJECT_UNSAFE_MODELS`` (None: kept)."""
    if scan.verdict is not Verdict.UNSAFE:
        return None
    found = ", ".join(f"{g.module}.{g.name}" for g in scan.globals if g.safety == "dangerous")
    return (f"refused: loading its file would import {found[:300] or 'unknown callables'}, which can run code "
            f"(REJECT_UNSAFE_MODELS is on)")


# ---- audit records -----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ImportMark:
    archive_sha256: str
    by: str
    at: datetime

    def to_json(self) -> dict[str, str]:
        return {"archive_sha256": self.archive_sha256, "by": self.by, "at": self.at.isoformat()}


def marked(record: AuditRecord, mark: ImportMark) -> AuditRecord:
    """``record`` as an import writes it: its details with ``imported`` (the archive's own
    ``imported``, if it had one, under ``earlier``)."""
    imported: dict[str, Any] = mark.to_json()
    if "imported" in record.details:
        imported["earlier"] = record.details["imported"]
    return replace(record, details={**record.details, "imported": imported})


def record_of_import(mark: ImportMark, details: Mapping[str, Any]) -> AuditRecord:
    """The native record of the import itself, by the importing actor."""
    at = millisecond(mark.at)
    return AuditRecord(id=new_id(at.timestamp()), at=at, action=str(Action.IMPORT), actor=mark.by,
                       details={"archive_sha256": mark.archive_sha256, **details})
