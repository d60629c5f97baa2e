"""Re-scanning model files whose stored verdict is stale (``model-service scan --stale``, and the
server's background pass): files judged by an older scanner, files never scanned, and, when
asked for, scans that failed for a reason that may pass (:mod:`~..domain.rescanning` says which).

The walk: :meth:`~..domain.ports.ScanRecords.files_to_rescan` in keyset pages, by sha256 then
model id, so that the versions sharing a blob come one after another. Each blob is copied from
the blob store into a local temporary file (the scanner reads local files), chunk by chunk and
hashed on the way (memory stays flat whatever its size; bytes that are not what their sha256
says are not judged), scanned once, its verdict recorded on every version that references it,
and the file removed before the next blob.

Each version's new verdict is written by :meth:`~..domain.ports.ScanRecords.record_scan`: a
compare-and-swap on the verdict the walk read, with a ``scanned`` event and an audit record (by
``rescan``), atomically. So two re-scans of one file at once (replicas, the command beside a
server) record one verdict, a stale re-scan never overwrites a newer one, and a version deleted
meanwhile is skipped.

A verdict that got worse (``safe`` → ``unsafe``, :func:`~..domain.rescanning.worse`) is logged as
a WARNING naming the version, the file's sha256 and the imports found, and handed to
``on_worse`` (the server counts it in ``model_scan_verdicts_worsened_total``).
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ..domain.audit import Action, Auditor, file_details
from ..domain.callers import Caller
from ..domain.errors import Conflict, NotFound, RegistryError
from ..domain.models import ModelVersion
from ..domain.ports import BlobStore, MetadataStore, ScanReference, TempBlob
from ..domain.rescanning import Staleness, worse
from ..domain.scanning import DANGEROUS, NOT_RECORDED_RESULT, ModelScanner, ScanResult, Verdict, assess

log = logging.getLogger(__name__)

ACTOR = "rescan"
PAGE = 200
CHUNK_SIZE = 1 << 20
MAX_LISTED = 1000
"""Versions a report lists at most of each kind (its counts are exact): memory stays flat."""

DELETED = "deleted"
RESCANNED_MEANWHILE = "rescanned_meanwhile"


# ---- what a re-scan reports ------------------------------------------------------------------------

def _imports(scan: ScanResult, limit: int = 10) -> str:
    names = [f"{g.module}.{g.name}" for g in scan.globals[:limit]]
    return ", ".join(names) + (f" and {len(scan.globals) - limit} more" if len(scan.globals) > limit else "")


@dataclass(frozen=True, slots=True)
class Change:
    """A version whose verdict the re-scan changed: what was stored (None: nothing) and what is now."""

    model_id: str
    name: str
    version: str
    sha256: str
    before: ScanResult | None
    after: ScanResult

    @property
    def from_verdict(self) -> Verdict:
        return (self.before or NOT_RECORDED_RESULT).verdict

    @property
    def worse(self) -> bool:
        return worse(self.from_verdict, self.after.verdict)

    def to_json(self) -> dict[str, Any]:
        return {"model_id": self.model_id, "name": self.name, "version": self.version, "sha256": self.sha256,
                "from": self.from_verdict.value, "to": self.after.verdict.value, "worse": self.worse,
                "globals": [g.to_json() for g in self.after.globals], "detail": self.after.detail}

    def line(self) -> str:
        found = f"; imports {_imports(self.after)}" if self.after.globals else ""
        return (f"{self.name} {self.version} ({self.model_id}): {self.from_verdict.value} → "
                f"{self.after.verdict.value}{' [worse]' if self.worse else ''} (sha256 {self.sha256}){found}")


@dataclass(frozen=True, slots=True)
class Pending:
    """A version a dry run would re-scan, and why its verdict is stale."""

    reference: ScanReference
    why: str

    def to_json(self) -> dict[str, Any]:
        ref = self.reference
        return {"model_id": ref.model_id, "name": ref.name, "version": ref.version, "sha256": ref.sha256,
                "verdict": (ref.scan or NOT_RECORDED_RESULT).verdict.value,
                "scanner_version": None if ref.scan is None else ref.scan.scanner_version, "why": self.why}

    def line(self) -> str:
        ref = self.reference
        return (f"would re-scan {ref.name} {ref.version} ({ref.model_id}): file sha256:{ref.sha256}, "
                f"{(ref.scan or NOT_RECORDED_RESULT).verdict.value} ({self.why})")


@dataclass
class RescanReport:
    """What a re-scan did (or, dry, would do). ``files``: distinct blobs scanned; ``versions``:
    versions whose new verdict was recorded (dry: that would be re-scanned); ``resume``: the
    sha256 the walk stopped before (its ``limit``, or asked to stop), None once at the end."""

    dry_run: bool
    scanner_version: str | None
    files: int = 0
    versions: int = 0
    unchanged: int = 0
    worse: int = 0
    changed_count: int = 0
    changed: list[Change] = field(default_factory=list)
    pending: list[Pending] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=lambda: {DELETED: 0, RESCANNED_MEANWHILE: 0})
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    resume: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """Nothing failed, and no verdict got worse (as ``fsck`` finding a problem: exit 1)."""
        return not self.failed and not self.worse

    def recorded(self, change: Change) -> None:
        self.versions += 1
        if change.from_verdict is change.after.verdict:
            self.unchanged += 1
            return
        self.changed_count += 1
        self.worse += change.worse
        if len(self.changed) < MAX_LISTED:
            self.changed.append(change)

    def fail(self, error: str) -> None:
        self.failed += 1
        if len(self.errors) < MAX_LISTED:
            self.errors.append(error)

    def to_json(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, "scanner_version": self.scanner_version, "files": self.files,
                "versions": self.versions, "unchanged": self.unchanged, "changed_count": self.changed_count,
                "worse": self.worse, "changed": [c.to_json() for c in self.changed],
                "pending": [p.to_json() for p in self.pending], "skipped": dict(self.skipped),
                "failed": self.failed, "errors": self.errors, "listed_at_most": MAX_LISTED,
                "resume": self.resume, "seconds": round(self.seconds, 3)}

    def lines(self) -> list[str]:
        scanner = f"scanner version {self.scanner_version or 'unknown'}"
        if self.dry_run:
            lines = [p.line() for p in self.pending]
            lines.append(f"would re-scan {self.files} file(s) ({self.versions} version(s)) with {scanner}")
        else:
            lines = [c.line() for c in self.changed] + [f"error: {e}" for e in self.errors]
            skipped = sum(self.skipped.values())
            lines.append(f"re-scanned {self.files} file(s) with {scanner}: {self.versions} version(s) recorded, "
                         f"{self.changed_count} changed ({self.worse} worse), {self.unchanged} unchanged, "
                         f"{skipped} skipped (deleted or re-scanned meanwhile), {self.failed} failed "
                         f"in {self.seconds:.1f} s")
        if self.resume is not None:
            lines.append(f"stopped before sha256 {self.resume}: run again for the rest")
        return lines


# ---- one blob, read once --------------------------------------------------------------------------

class _Blob:
    """One blob in a local temporary file, and the scanner reading it once per kind: the
    :class:`ModelScanner` that :func:`assess` is given for each version of the blob."""

    def __init__(self, sha256: str, scanner: ModelScanner, path: Path | None = None, error: str | None = None,
                 missing: bool = False):
        self.sha256 = sha256
        self.scanner = scanner
        self.path = path
        self.error = error
        self.missing = missing
        self._results: dict[str, ScanResult] = {}

    @property
    def version(self) -> str | None:
        return self.scanner.version

    def prepare(self, temp: TempBlob) -> TempBlob:
        return temp  # never an upload here

    def scan(self, path: Path, kind: str) -> ScanResult:
        if kind not in self._results:
            self._results[kind] = self.scanner.scan(path, kind)
        return self._results[kind]

    def close(self) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)
            self.path = None

    @classmethod
    def fetch(cls, blobs: BlobStore, sha256: str, scanner: ModelScanner, temp_dir: Path | None) -> _Blob:
        """The blob copied into a temporary file in ``temp_dir`` (None: the system's), or why not."""
        path: Path | None = None
        try:
            fd, name = tempfile.mkstemp(prefix="rescan-", suffix=".part", dir=temp_dir)
            path = Path(name)
            digest = hashlib.sha256()
            with os.fdopen(fd, "wb") as out:
                reader = blobs.open(sha256)
                try:
                    while chunk := reader.read(CHUNK_SIZE):
                        digest.update(chunk)
                        out.write(chunk)
                finally:
                    reader.close()
            if digest.hexdigest() != sha256:
                raise _Damaged(f"its blob's bytes hash to sha256:{digest.hexdigest()} (run `model-service fsck`)")
        except NotFound:
            return cls._failed(sha256, scanner, path, "its blob is missing from the blob store (run `model-service "
                                                      "fsck`)", missing=True)
        except _Damaged as exc:
            return cls._failed(sha256, scanner, path, str(exc))
        except RegistryError as exc:
            return cls._failed(sha256, scanner, path, f"its blob cannot be read: {exc.message}")
        except OSError as exc:
            return cls._failed(sha256, scanner, path, f"it cannot be copied to a local file for the scan "
                                                      f"({exc.strerror or exc}; see SCAN_TEMP_DIR)")
        return cls(sha256, scanner, path)

    @classmethod
    def _failed(cls, sha256: str, scanner: ModelScanner, path: Path | None, error: str, *,
                missing: bool = False) -> _Blob:
        if path is not None:
            path.unlink(missing_ok=True)
        return cls(sha256, scanner, error=error, missing=missing)


class _Damaged(Exception):
    pass


# ---- the walk -------------------------------------------------------------------------------------------

def stale_references(metadata: MetadataStore, stale: Staleness, start: str | None = None,
                     page: int = PAGE) -> Iterator[ScanReference]:
    """Every version whose verdict is stale, by sha256 then model id, from sha256 ``start`` on."""
    after = None if start is None else (start, "")
    while found := metadata.files_to_rescan(stale, after, page):
        yield from found
        if len(found) < page:
            return
        after = (found[-1].sha256, found[-1].model_id)


def rescan(metadata: MetadataStore, blobs: BlobStore, scanner: ModelScanner, *, clock: Callable[[], datetime],
           dry_run: bool = False, limit: int | None = None, retry_transient: bool = False, start: str | None = None,
           temp_dir: Path | None = None, stop: Callable[[], bool] | None = None,
           on_worse: Callable[[Change], None] | None = None) -> RescanReport:
    """Re-scan the files whose verdict is stale for ``scanner``, at most ``limit`` of them (distinct
    blobs), from sha256 ``start`` on; ``stop()`` is asked before each blob (a server shutting
    down). ``dry_run``: only list the versions that would be re-scanned; no blob is read."""
    stale = Staleness.of(scanner.version, retry_transient=retry_transient)
    report = RescanReport(dry_run=dry_run, scanner_version=scanner.version)
    recorder = _Recorder(metadata, clock, report, on_worse)
    started = time.monotonic()
    blob: _Blob | None = None
    try:
        for ref in stale_references(metadata, stale, start):
            if blob is None or blob.sha256 != ref.sha256:
                if blob is not None:
                    blob.close()
                    blob = None
                if (limit is not None and report.files >= limit) or (stop is not None and stop()):
                    report.resume = ref.sha256
                    break
                report.files += 1
                blob = _Blob(ref.sha256, scanner) if dry_run else _Blob.fetch(blobs, ref.sha256, scanner, temp_dir)
            if dry_run:
                report.versions += 1
                if len(report.pending) < MAX_LISTED:
                    report.pending.append(Pending(ref, stale.why(ref.scan) or "stale"))
                continue
            recorder.version(blob, ref)
    finally:
        if blob is not None:
            blob.close()
        report.seconds = time.monotonic() - started
    return report


class _Recorder:
    """Records each version's new verdict, and reports it."""

    def __init__(self, metadata: MetadataStore, clock: Callable[[], datetime], report: RescanReport,
                 on_worse: Callable[[Change], None] | None):
        self.metadata = metadata
        self.clock = clock
        self.report = report
        self.on_worse = on_worse
        self.auditor = Auditor(metadata, clock=clock)

    def version(self, blob: _Blob, ref: ScanReference) -> None:
        where = f"{ref.name} {ref.version} ({ref.model_id}): file sha256:{ref.sha256}"
        if blob.error is not None:
            if blob.missing and not self._exists(ref.model_id):
                self.report.skipped[DELETED] += 1  # its blob went with it
            else:
                self.report.fail(f"{where}: {blob.error}")
            return
        after = assess(blob, blob.path, ref.format, ref.size_bytes, self.clock())
        before = ref.scan
        audit = self.auditor.hook(Caller(actor=ACTOR), Action.RESCAN,
                                  lambda model: _described(model, before, after))
        try:
            self.metadata.record_scan(ref.model_id, before, after, ACTOR, self.clock(), audit)
        except NotFound:
            self.report.skipped[DELETED] += 1
            return
        except Conflict:
            self.report.skipped[RESCANNED_MEANWHILE] += 1
            return
        except RegistryError as exc:
            self.report.fail(f"{where}: the new verdict could not be recorded: {exc.message}")
            return
        change = Change(ref.model_id, ref.name, ref.version, ref.sha256, before, after)
        self.report.recorded(change)
        if change.worse:
            log.warning("Re-scanned %s %s (model %s, sha256 %s): %s → %s%s", ref.name, ref.version, ref.model_id,
                        ref.sha256, change.from_verdict.value, after.verdict.value,
                        f"; loading it would import {_imports(after)}" if after.globals else f": {after.detail}")
            if self.on_worse is not None:
                self.on_worse(change)

    def _exists(self, model_id: str) -> bool:
        try:
            self.metadata.get(model_id)
        except NotFound:
            return False
        return True


def _described(model: ModelVersion, before: ScanResult | None, after: ScanResult) -> dict[str, Any]:
    """The audit record of a re-scan: the file, its verdicts before and after, the dangerous imports."""
    shown = before or NOT_RECORDED_RESULT
    return {"model": model, "details": {
        **file_details(model), "from": shown.verdict.value, "to": after.verdict.value,
        "from_scanner_version": shown.scanner_version, "to_scanner_version": after.scanner_version,
        "dangerous": [f"{g.module}.{g.name}" for g in after.globals if g.safety == DANGEROUS][:50]}}
