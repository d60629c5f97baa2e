"""The re-scan (``operations/rescan.py``) on the embedded default, PostgreSQL + S3 and MongoDB +
GridFS, with the real scanner: stale verdicts on a file that is actually unsafe change, each blob
is read and scanned once whatever the number of versions sharing it, the temporary copy goes,
memory stays flat; versions deleted or re-scanned meanwhile are skipped, and missing or damaged
blobs are reported without a verdict recorded for them."""

from __future__ import annotations

import logging
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

from model_service.domain.audit import AuditQuery
from model_service.domain.models import EventKind
from model_service.domain.scanning import ScanResult, Verdict
from model_service.operations.rescan import DELETED, RESCANNED_MEANWHILE, rescan
from model_service.scanner.service import PickleScanner

from .maintenance_fixtures import replace_bytes, sha
from .maintenance_fixtures import stack_fixture as stack_fixture  # the fixture `stack`
from .rescan_fixtures import NEVER_SCANNED, OLD_SAFE, current, plain_data, plant, runs_a_command

SCANNER = PickleScanner(timeout=30)


class Counting:
    """The scanner, counting what it is asked to read (and doing ``during()`` before the first read)."""

    def __init__(self, inner: PickleScanner = SCANNER, during: Callable[[], None] | None = None):
        self.inner = inner
        self.during = during
        self.calls: list[tuple[Path, str]] = []

    @property
    def version(self) -> str | None:
        return self.inner.version

    def prepare(self, temp):
        return self.inner.prepare(temp)

    def scan(self, path: Path, kind: str) -> ScanResult:
        assert path.is_file()
        self.calls.append((path, kind))
        if self.during is not None:
            during, self.during = self.during, None
            during()
        return self.inner.scan(path, kind)


def run(stack, scanner, tmp_path: Path, **options):
    temp_dir = tmp_path / "scan-temp"
    temp_dir.mkdir(exist_ok=True)
    report = rescan(stack.metadata, stack.blobs, scanner, clock=stack.clock, temp_dir=temp_dir, **options)
    assert list(temp_dir.iterdir()) == []  # every local copy removed
    return report


def verdict(stack, model) -> Verdict:
    return stack.registry.get(model.id).file.scan.verdict


def test_stale_verdicts_change_once_per_blob(stack, tmp_path, caplog):
    evil = runs_a_command()
    evil_versions = [plant(stack.metadata, stack.blobs, "fraud", evil, OLD_SAFE) for _ in range(3)]
    old_upload = plant(stack.metadata, stack.blobs, "churn", plain_data(1), None)
    never = plant(stack.metadata, stack.blobs, "churn", plain_data(2), NEVER_SCANNED)
    fresh = plant(stack.metadata, stack.blobs, "churn", plain_data(3), current(OLD_SAFE, SCANNER.version))
    scanner = Counting()

    with caplog.at_level(logging.WARNING, logger="model_service.operations.rescan"):
        report = run(stack, scanner, tmp_path)

    assert (report.files, report.versions, report.worse, report.unchanged, report.failed) == (3, 5, 3, 0, 0)
    assert not report.ok and report.resume is None
    assert len(scanner.calls) == 3  # one read per blob: three versions share the malicious one
    assert [verdict(stack, m) for m in evil_versions] == [Verdict.UNSAFE] * 3
    assert len({stack.registry.get(m.id).file.scan for m in evil_versions}) == 1  # one scan, on each
    assert (verdict(stack, old_upload), verdict(stack, never)) == (Verdict.SAFE, Verdict.SAFE)
    assert stack.registry.get(fresh.id).file.scan == current(OLD_SAFE, SCANNER.version)  # untouched
    assert sorted(c.model_id for c in report.changed if c.worse) == sorted(m.id for m in evil_versions)
    for model in evil_versions:
        event = stack.metadata.events(model.id)[-1]
        assert (event.kind, event.actor, event.data["from"], event.data["to"]) == (EventKind.SCANNED, "rescan",
                                                                                   "safe", "unsafe")
    records = stack.metadata.audit_records(AuditQuery(actions=("model.rescan",), limit=50))
    assert sorted(r.model_id for r in records) == sorted([*(m.id for m in evil_versions), old_upload.id, never.id])
    assert all(r.details["file"]["sha256"] == sha(evil) and r.details["dangerous"] == ["os.system"]
               for r in records if r.model_id in {m.id for m in evil_versions})
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(lines) == 3 and all(sha(evil) in line and "os.system" in line for line in lines)

    again = run(stack, Counting(), tmp_path)
    assert (again.files, again.versions, again.ok) == (0, 0, True)  # nothing stale any more


def test_the_dry_run_reads_no_blob_and_writes_nothing(stack, tmp_path):
    model = plant(stack.metadata, stack.blobs, "fraud", runs_a_command(), OLD_SAFE)
    plant(stack.metadata, stack.blobs, "fraud", runs_a_command(), OLD_SAFE)
    scanner = Counting()
    report = run(stack, scanner, tmp_path, dry_run=True)
    assert (report.files, report.versions, report.ok, scanner.calls) == (1, 2, True, [])
    assert [p.why for p in report.pending] == ["older_scanner", "older_scanner"]
    assert verdict(stack, model) is Verdict.SAFE
    assert [e.kind for e in stack.metadata.events(model.id)] == [EventKind.CREATED, EventKind.UPLOADED]


def test_a_version_deleted_meanwhile_is_skipped(stack, tmp_path):
    evil = runs_a_command()
    kept, shared = (plant(stack.metadata, stack.blobs, "fraud", evil, OLD_SAFE) for _ in range(2))
    alone = plant(stack.metadata, stack.blobs, "churn", plain_data(9), OLD_SAFE)  # its blob goes with it

    def delete_two() -> None:  # while the first blob is being scanned
        stack.registry.delete(shared.id, "alice")
        stack.registry.delete(alone.id, "alice")

    report = run(stack, Counting(during=delete_two), tmp_path)
    assert report.failed == 0 and report.errors == []
    assert report.skipped[DELETED] == 2  # both were listed before they were deleted
    assert verdict(stack, kept) is Verdict.UNSAFE
    assert [e.kind for e in stack.metadata.events(shared.id)][-1] is EventKind.DELETED  # no event after it


def test_a_verdict_recorded_meanwhile_is_not_overwritten(stack, tmp_path):
    model = plant(stack.metadata, stack.blobs, "fraud", runs_a_command(), OLD_SAFE)
    theirs = current(ScanResult(Verdict.UNSAFE, True, stack.clock(), "picklescan", None, (), None, "another replica"),
                     SCANNER.version)

    def another_replica() -> None:
        stack.metadata.record_scan(model.id, OLD_SAFE, theirs, "rescan", stack.clock())

    report = run(stack, Counting(during=another_replica), tmp_path)
    assert report.skipped[RESCANNED_MEANWHILE] == 1 and report.versions == 0
    assert stack.registry.get(model.id).file.scan == theirs


def test_missing_and_damaged_blobs_are_errors_and_keep_their_verdict(stack, tmp_path):
    gone = plant(stack.metadata, stack.blobs, "fraud", plain_data(1), OLD_SAFE)
    damaged = plant(stack.metadata, stack.blobs, "fraud", runs_a_command(), OLD_SAFE)
    stack.blobs.delete(gone.file.sha256)
    replace_bytes(stack.blobs, damaged.file.sha256, plain_data(2) + b"." * (len(runs_a_command()) - 30))
    report = run(stack, Counting(), tmp_path)
    assert report.failed == 2 and not report.ok
    assert any(gone.id in e and "missing from the blob store" in e for e in report.errors)
    assert any(damaged.id in e and "hash to sha256:" in e for e in report.errors)
    assert stack.registry.get(gone.id).file.scan == OLD_SAFE == stack.registry.get(damaged.id).file.scan


def test_the_limit_and_stop_bound_the_work_and_say_where_to_resume(stack, tmp_path):
    models = [plant(stack.metadata, stack.blobs, "fraud", plain_data(n), OLD_SAFE) for n in range(4)]
    order = sorted(m.file.sha256 for m in models)
    first = run(stack, Counting(), tmp_path, limit=2)
    assert (first.files, first.versions, first.resume) == (2, 2, order[2])
    stopped = run(stack, Counting(), tmp_path, start=first.resume, stop=lambda: True)
    assert (stopped.files, stopped.resume) == (0, order[2])
    rest = run(stack, Counting(), tmp_path, start=first.resume)
    assert (rest.files, rest.resume) == (2, None)
    assert all(verdict(stack, m) is Verdict.SAFE for m in models)
    assert all(stack.registry.get(m.id).file.scan.scanner_version == SCANNER.version for m in models)


@pytest.mark.parametrize("stack", ["embedded"], indirect=True)
def test_a_large_blob_is_copied_in_flat_memory(stack, tmp_path):
    size = 24 << 20
    big = b"\x80\x04" + bytes(range(256)) * (size // 256)  # a pickle's first bytes, then no valid opcodes
    model = plant(stack.metadata, stack.blobs, "big", big, OLD_SAFE)
    tracemalloc.start()
    try:
        report = run(stack, Counting(), tmp_path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert report.versions == 1 and report.failed == 0
    assert verdict(stack, model) is Verdict.UNSCANNED  # not a well-formed pickle: never "safe"
    assert peak < 4 << 20, f"peak Python allocation {peak:,} bytes for a {size:,}-byte blob"
