"""The integrity scrub (``model-service fsck``) and the cheap sample of it in ``/health/detailed``.

The scrub walks blobs and references together (``inventory.py``) and checks both directions:

* ``missing_blob``: a version whose file's blob is not in the blob store;
* ``size_mismatch``: a blob whose size is not the size its versions recorded;
* ``hash_mismatch``: a blob whose bytes do not hash to its key (read back in full, streamed:
  memory stays flat whatever the size); ``unreadable_blob``: one that cannot be read to the end;
* ``orphan_blob``: a blob no version references;
* ``stale_temp_upload``: what an upload left in temporary space, older than the threshold.

A version already marked ``corrupted`` whose blob is still missing or damaged is listed as
known, not as a problem. Each problem is looked at again before it is reported, so a change
made while the scrub runs (an upload, a deletion) does not show up as damage.

``repair`` fixes what can be fixed without losing anything: orphan blobs are deleted (under the
blob's reference lock, as garbage collection does), stale temporary uploads removed, and
versions whose file is gone or damaged marked ``corrupted`` (a ``status`` event and an audit
record, by ``fsck``). A damaged blob itself is kept, for inspection or recovery, unless
``drop_damaged``: then it is deleted once its versions are marked, so that the right content
can be stored again (an upload finding a blob under its key keeps the one there).
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ..domain.audit import Action, Auditor
from ..domain.callers import Caller
from ..domain.errors import NotFound, RegistryError
from ..domain.models import ModelVersion, Status
from ..domain.ports import BlobStore, FileReference, Health, MetadataStore
from ..domain.query import SearchQuery
from .gc import DEFAULT_TEMP_AGE
from .inventory import Entry, is_referenced, walk

CHUNK_SIZE = 4 << 20
ACTOR = "fsck"

MISSING_BLOB = "missing_blob"
SIZE_MISMATCH = "size_mismatch"
HASH_MISMATCH = "hash_mismatch"
UNREADABLE_BLOB = "unreadable_blob"
ORPHAN_BLOB = "orphan_blob"
STALE_TEMP_UPLOAD = "stale_temp_upload"
DAMAGE = (MISSING_BLOB, SIZE_MISMATCH, HASH_MISMATCH, UNREADABLE_BLOB)


@dataclass
class Problem:
    kind: str
    detail: str
    sha256: str | None = None
    model_ids: list[str] = field(default_factory=list)
    size_bytes: int | None = None
    repaired: str | None = None
    """What ``repair`` did about it (None: nothing, or not repairing)."""

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "detail": self.detail, "sha256": self.sha256, "model_ids": self.model_ids,
                "size_bytes": self.size_bytes, "repaired": self.repaired}


@dataclass
class FsckReport:
    repair: bool
    rehash: bool
    versions: int = 0
    blobs: int = 0
    bytes_hashed: int = 0
    problems: list[Problem] = field(default_factory=list)
    known: list[Problem] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "repair": self.repair, "rehash": self.rehash,
                "checked": {"versions": self.versions, "blobs": self.blobs, "bytes_hashed": self.bytes_hashed},
                "problems": [p.to_json() for p in self.problems], "known": [p.to_json() for p in self.known],
                "seconds": round(self.seconds, 3)}

    def lines(self) -> list[str]:
        lines = [f"{p.kind}: {p.detail}" + (f" [repaired: {p.repaired}]" if p.repaired else "")
                 for p in self.problems]
        lines += [f"known ({p.kind}): {p.detail}" for p in self.known]
        hashed = f", {self.bytes_hashed:,} bytes re-hashed" if self.rehash else " (sizes only, not re-hashed)"
        lines.append(f"checked {self.versions} file references and {self.blobs} blobs{hashed} "
                     f"in {self.seconds:.1f} s: "
                     + ("no problems" if self.ok else f"{len(self.problems)} problem(s)"
                        + (f", {sum(1 for p in self.problems if p.repaired)} repaired" if self.repair else "")))
        return lines


def scrub(metadata: MetadataStore, blobs: BlobStore, *, now: datetime, repair: bool = False, rehash: bool = True,
          temp_older_than: timedelta = DEFAULT_TEMP_AGE, drop_damaged: bool = False,
          clock: Callable[[], datetime] | None = None) -> FsckReport:
    """Check every blob and every reference; with ``repair``, fix what can be fixed without loss
    (and with ``drop_damaged`` too, delete blobs whose bytes are not what their key says)."""
    report = FsckReport(repair=repair, rehash=rehash)
    started = time.monotonic()
    fixer = _Repairs(metadata, blobs, clock or (lambda: now), drop_damaged) if repair else None
    for entry in walk(metadata, blobs):
        report.versions += len(entry.references)
        if entry.blob is not None:
            report.blobs += 1
        for found, known in _check(entry, blobs, rehash, report):
            problem = _confirmed(found, metadata, blobs)
            if problem is None:
                continue
            if known:
                report.known.append(problem)
                continue
            if fixer is not None:
                fixer.repair(problem)
            report.problems.append(problem)
    for upload in blobs.leftovers(now - temp_older_than):
        problem = Problem(STALE_TEMP_UPLOAD, f"temporary upload {upload.kind} {upload.name} "
                          f"({upload.size:,} bytes, from {upload.started:%Y-%m-%d %H:%M})", size_bytes=upload.size)
        if fixer is not None:
            try:
                problem.repaired = f"removed ({blobs.remove_leftover(upload):,} bytes freed)"
            except RegistryError as exc:
                problem.detail += f"; could not remove it: {exc.message}"
        report.problems.append(problem)
    report.seconds = time.monotonic() - started
    return report


def _check(entry: Entry, blobs: BlobStore, rehash: bool, report: FsckReport) -> list[tuple[Problem, bool]]:
    """The problems of one sha256, each with whether it is already known (every version it
    concerns is marked ``corrupted``)."""
    blob, refs = entry.blob, entry.references
    if blob is None:
        return [(_damage(MISSING_BLOB, entry.sha256, refs, "its blob is missing from the blob store"),
                 _all_corrupted(refs))]
    if not refs:
        return [(Problem(ORPHAN_BLOB, f"blob {entry.sha256} ({blob.size:,} bytes) is referenced by no version",
                         sha256=entry.sha256, size_bytes=blob.size), False)]
    found: list[tuple[Problem, bool]] = []
    wrong_size = [ref for ref in refs if ref.size_bytes != blob.size]
    if wrong_size:
        found.append((_damage(SIZE_MISMATCH, entry.sha256, wrong_size,
                              f"its blob holds {blob.size:,} bytes, not the {wrong_size[0].size_bytes:,} recorded"),
                      _all_corrupted(wrong_size)))
    if rehash:
        outcome = _rehash(blobs, entry.sha256, report)
        if outcome is not None:
            kind, why = outcome
            found.append((_damage(kind, entry.sha256, refs, why), _all_corrupted(refs)))
    return found


def _damage(kind: str, sha256: str, refs: list[FileReference], why: str) -> Problem:
    names = ", ".join(f"{ref.name} {ref.version} ({ref.model_id})" for ref in refs[:5])
    more = f" and {len(refs) - 5} more" if len(refs) > 5 else ""
    return Problem(kind, f"{names}{more}: file sha256:{sha256}: {why}", sha256=sha256,
                   model_ids=[ref.model_id for ref in refs], size_bytes=refs[0].size_bytes)


def _all_corrupted(refs: list[FileReference]) -> bool:
    return all(ref.status is Status.CORRUPTED for ref in refs)


def _rehash(blobs: BlobStore, key: str, report: FsckReport) -> tuple[str, str] | None:
    """None if the blob's bytes hash to ``key``; else the problem's kind and why."""
    digest = hashlib.sha256()
    try:
        reader = blobs.open(key)
    except NotFound:
        return UNREADABLE_BLOB, "its blob disappeared while being checked"
    try:
        while chunk := reader.read(CHUNK_SIZE):
            digest.update(chunk)
            report.bytes_hashed += len(chunk)
    except RegistryError as exc:
        return UNREADABLE_BLOB, f"its blob cannot be read to the end: {exc.message}"
    finally:
        reader.close()
    if digest.hexdigest() != key:
        return HASH_MISMATCH, f"its blob's bytes hash to sha256:{digest.hexdigest()}"
    return None


def _confirmed(problem: Problem, metadata: MetadataStore, blobs: BlobStore) -> Problem | None:
    """The problem if a second look still shows it (the walk's two listings are not one snapshot)."""
    sha256 = problem.sha256
    if sha256 is None:  # not about a blob: nothing to look at again
        return problem
    if problem.kind == ORPHAN_BLOB:
        return None if is_referenced(metadata, sha256) or blobs.size(sha256) is None else problem
    if problem.kind == MISSING_BLOB and blobs.size(sha256) is not None:
        return None  # committed meanwhile
    if problem.kind in DAMAGE:  # and versions deleted meanwhile are no concern
        problem.model_ids = [m for m in problem.model_ids if _still_references(metadata, m, sha256)]
        return problem if problem.model_ids else None
    return problem


def _still_references(metadata: MetadataStore, model_id: str, sha256: str) -> bool:
    try:
        model = metadata.get(model_id)
    except NotFound:
        return False
    return model.file is not None and model.file.sha256 == sha256


class _Repairs:
    def __init__(self, metadata: MetadataStore, blobs: BlobStore, clock: Callable[[], datetime],
                 drop_damaged: bool = False):
        self.metadata = metadata
        self.blobs = blobs
        self.clock = clock
        self.drop_damaged = drop_damaged
        self.auditor = Auditor(metadata, clock=clock)

    def repair(self, problem: Problem) -> None:
        """Repair a problem of one blob (what ``_check`` finds: each names its sha256)."""
        sha256 = problem.sha256
        if sha256 is None:
            return
        try:
            if problem.kind == ORPHAN_BLOB:
                removed = self.metadata.delete_blob_if_unreferenced(sha256, self.blobs.delete)
                problem.repaired = "blob deleted" if removed else "kept: a version references it now"
            elif problem.kind in DAMAGE:
                marked = [m for m in problem.model_ids if self._mark_corrupted(m, problem.kind)]
                if not marked:
                    return
                problem.repaired = f"{len(marked)} version(s) marked corrupted"
                if self.drop_damaged and problem.kind != MISSING_BLOB and self.blobs.size(sha256) is not None:
                    self.blobs.delete(sha256)
                    problem.repaired += "; damaged blob deleted"
        except RegistryError as exc:
            problem.detail += f"; repair failed: {exc.message}"

    def _mark_corrupted(self, model_id: str, reason: str) -> bool:
        """True once the version is marked (by this call or before); False if it is gone."""
        def describe(model: ModelVersion) -> dict[str, Any]:
            return {"model": model, "details": {"fields": ["status"], "status": model.status.value, "reason": reason}}

        audit = self.auditor.hook(Caller(actor=ACTOR), Action.UPDATE, describe)
        try:
            if self.metadata.get(model_id).status is not Status.CORRUPTED:
                self.metadata.update(model_id, {"status": Status.CORRUPTED}, ACTOR, self.clock(), audit)
        except NotFound:
            return False  # deleted meanwhile
        return True


# ---- the cheap sample in /health/detailed -----------------------------------------------------------

def sample(metadata: MetadataStore, blobs: BlobStore, *, newest: int = 10, randomly: int = 10,
           rng: random.Random | None = None) -> Health:
    """The newest ``newest`` versions and ``randomly`` more at a random place in the listing:
    their files exist in the blob store with their recorded sizes (no re-hash: a few metadata
    reads and one size look-up per file). Versions marked ``corrupted`` are counted, not failed."""
    page = metadata.search(SearchQuery(limit=max(newest, 1)))
    models = list(page.items[:newest])
    if randomly > 0 and page.total > newest:
        offset = (rng or random).randrange(newest, max(page.total - randomly, newest) + 1)
        models += metadata.search(SearchQuery(offset=offset, limit=randomly)).items
    problems: list[dict[str, Any]] = []
    checked, known, seen = 0, 0, set()
    for model in models:
        if model.file is None or model.id in seen:
            continue
        seen.add(model.id)
        if model.status is Status.CORRUPTED:
            known += 1
            continue
        checked += 1
        size = blobs.size(model.file.sha256)
        if size != model.file.size_bytes:
            problems.append({"model_id": model.id, "sha256": model.file.sha256,
                             "expected_size": model.file.size_bytes, "found_size": size})
    info = {"checked": checked, "corrupted": known}
    if problems:
        return Health(False, f"{len(problems)} of {checked} sampled files missing or wrong size "
                             "(run `model-service fsck`)", {"problems": problems, **info})
    return Health(True, info=info)
