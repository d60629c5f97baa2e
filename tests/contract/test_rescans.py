"""The stored verdicts as a re-scan walks and replaces them, on every metadata backend: which
versions ``files_to_rescan`` lists (the domain's rule, translated by the store), in keyset pages
by sha256; and ``record_scan``'s compare-and-swap on the verdict read, with its event and its
audit record, so that a stale re-scan never overwrites a newer one."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest

from model_service.domain.audit import Action, Auditor, AuditQuery
from model_service.domain.callers import Caller
from model_service.domain.errors import Conflict, NotFound
from model_service.domain.models import EventKind, Status
from model_service.domain.rescanning import Staleness
from model_service.domain.scanning import (
    NO_LOCAL_COPY,
    NOT_RECORDED,
    SCAN_TIMEOUT,
    SCANNING_DISABLED,
    FoundGlobal,
    ScanResult,
    Verdict,
    unscanned,
)

from .helpers import T0, RecordingBlob, accepted, draft, later

RUNNING = "1.0.5+r2"
OLD = "1.0.5"


def scan(verdict: Verdict = Verdict.SAFE, version: str | None = RUNNING, **fields) -> ScanResult:
    return replace(ScanResult(verdict, True, later(0), "picklescan", version, (), None, "judged"), **fields)


UNSAFE = scan(Verdict.UNSAFE, globals=(FoundGlobal("posix", "system", "dangerous"),), detail="posix.system")
# Every kind of stored verdict, and whether it is stale for the RUNNING scanner (plain, and when
# transient failures are retried too).
CASES = {
    "none_stored": (None, True, True),
    "not_recorded": (unscanned(NOT_RECORDED, "before scanning"), True, True),
    "scanning_disabled": (unscanned(SCANNING_DISABLED, "off", at=T0), True, True),
    "no_local_copy": (unscanned(NO_LOCAL_COPY, "no copy", at=T0), True, True),
    "older_safe": (scan(version=OLD), True, True),
    "older_unsafe": (replace(UNSAFE, scanner_version=OLD), True, True),
    "revision_differs": (scan(version="1.0.5+r1"), True, True),
    "older_without_version": (scan(version=None), True, True),
    "current_safe": (scan(), False, False),
    "current_unsafe": (UNSAFE, False, False),
    "current_timed_out": (unscanned(SCAN_TIMEOUT, "slow", at=T0, scanner="picklescan", scanner_version=RUNNING),
                          False, True),
    "current_unsafe_timed_out": (replace(UNSAFE, reason=SCAN_TIMEOUT), False, False),
    "non_executable": (ScanResult(Verdict.SAFE, False, T0, reason="non_executable_format"), False, False),
    "format_not_scanned": (unscanned("format_not_scanned", "keras", at=T0), False, False),
}


def planted(store, name: str, content: bytes, stored: ScanResult | None, **fields):
    blob = RecordingBlob(content)
    return store.create_version(draft(name, **fields), accepted(content, replace(blob.info, scan=stored), blob))


@pytest.fixture
def catalog(metadata_store):
    """A version per case (each its own file), two more sharing the "older_safe" file, one without a file."""
    made = {case: planted(metadata_store, case, f"content of {case}".encode(), stored)
            for case, (stored, _, _) in CASES.items()}
    made["older_safe_again"] = planted(metadata_store, "shared", b"content of older_safe", scan(version=OLD))
    made["older_safe_third"] = planted(metadata_store, "shared", b"content of older_safe", scan(version=OLD))
    metadata_store.create_version(draft("no_file"))
    return made


def walk(store, stale: Staleness, page: int) -> list[tuple[str, str]]:
    keys, after = [], None
    while found := store.files_to_rescan(stale, after, page):
        keys.extend((ref.sha256, ref.model_id) for ref in found)
        after = keys[-1]
    return keys


@pytest.mark.parametrize("retry_transient", [False, True], ids=["plain", "retry_transient"])
def test_exactly_the_stale_verdicts_are_listed_in_sha256_order(metadata_store, catalog, retry_transient):
    stale = Staleness.of(RUNNING, retry_transient=retry_transient)
    column = 2 if retry_transient else 1
    expected = {case for case, row in CASES.items() if row[column]}
    expected |= {"older_safe_again", "older_safe_third"}
    listed = metadata_store.files_to_rescan(stale, None, 100)
    assert {ref.model_id for ref in listed} == {catalog[case].id for case in expected}
    assert [(r.sha256, r.model_id) for r in listed] == sorted((r.sha256, r.model_id) for r in listed)
    for ref in listed:  # the store's answer is the domain's rule
        model = metadata_store.get(ref.model_id)
        assert ref.scan == model.file.scan and stale.why(ref.scan) is not None
        assert (ref.name, ref.version, ref.format, ref.size_bytes) == (model.name, str(model.version),
                                                                        model.file.format, model.file.size_bytes)
    unlisted = [m for case, m in catalog.items() if case not in expected]
    assert all(stale.why(m.file.scan) is None for m in unlisted)


def test_keyset_pages_walk_every_stale_version_once(metadata_store, catalog):
    stale = Staleness.of(RUNNING)
    everything = [(r.sha256, r.model_id) for r in metadata_store.files_to_rescan(stale, None, 100)]
    for page in (1, 2, 3):
        assert walk(metadata_store, stale, page) == everything
    shared = catalog["older_safe"].file.sha256
    group = metadata_store.files_to_rescan(stale, (shared, ""), 3)  # from that sha256's first version
    assert [r.model_id for r in group] == sorted(catalog[c].id for c in ("older_safe", "older_safe_again",
                                                                          "older_safe_third"))
    assert metadata_store.files_to_rescan(stale, None, 0) == []


def test_a_deleted_version_is_not_listed(metadata_store, catalog):
    stale = Staleness.of(RUNNING)
    metadata_store.delete(catalog["older_safe_again"].id, lambda _sha256: None, "alice", later(1))
    assert catalog["older_safe_again"].id not in {r.model_id for r in metadata_store.files_to_rescan(stale, None, 100)}


def test_a_running_scanner_without_version_finds_versioned_verdicts_stale(metadata_store, catalog):
    listed = {r.model_id for r in metadata_store.files_to_rescan(Staleness.of(None), None, 100)}
    assert catalog["older_without_version"].id not in listed and catalog["current_safe"].id in listed


def test_recording_a_scan_replaces_it_with_an_event_and_an_audit_record(metadata_store):
    old = scan(version=OLD)
    model = planted(metadata_store, "fraud", b"evil", old)
    metadata_store.record_download(model.id, "bob", later(1), {"bytes": 4})
    auditor = Auditor(metadata_store, clock=lambda: later(3))
    audit = auditor.hook(Caller(actor="rescan"), Action.RESCAN,
                         lambda written: {"model": written, "details": {"to": written.file.scan.verdict.value}})

    written = metadata_store.record_scan(model.id, old, UNSAFE, "rescan", later(2), audit)

    stored = metadata_store.get(model.id)
    assert written == stored and stored.file.scan == UNSAFE
    assert (stored.download_count, stored.updated_at, stored.status) == (1, model.updated_at, Status.ACTIVE)
    assert replace(stored, download_count=0, file=replace(stored.file, scan=old)) == model  # nothing else changed
    event = metadata_store.events(model.id)[-1]
    assert (event.kind, event.actor, event.at) == (EventKind.SCANNED, "rescan", later(2))
    assert event.data == {"checksum": model.file.checksum, "from": "safe", "to": "unsafe",
                          "from_scanner_version": OLD, "to_scanner_version": RUNNING}
    records = metadata_store.audit_records(AuditQuery(actions=("model.rescan",)))
    assert [(r.model_id, r.actor, r.details) for r in records] == [(model.id, "rescan", {"to": "unsafe"})]
    assert {r.model_id for r in metadata_store.files_to_rescan(Staleness.of(RUNNING), None, 10)} == set()


def test_a_file_without_a_stored_scan_gets_one(metadata_store):
    model = planted(metadata_store, "old_upload", b"before scanning", None)
    metadata_store.record_scan(model.id, None, UNSAFE, "rescan", later(2))
    assert metadata_store.get(model.id).file.scan == UNSAFE
    assert metadata_store.events(model.id)[-1].data["from"] == "unscanned"


def test_the_compare_and_swap_refuses_a_scan_that_changed_since_it_was_read(metadata_store):
    old = scan(version=OLD)
    model = planted(metadata_store, "fraud", b"evil", old)
    newer = replace(UNSAFE, scanned_at=later(9), scanner_version="1.0.6")
    metadata_store.record_scan(model.id, old, newer, "replica-b", later(9))  # another replica, first
    events = len(metadata_store.events(model.id))

    with pytest.raises(Conflict) as refused:  # the slower re-scan read `old` too
        metadata_store.record_scan(model.id, old, scan(), "replica-a", later(5))
    assert refused.value.code == "scan_conflict"
    assert metadata_store.get(model.id).file.scan == newer  # the newer one stands
    assert len(metadata_store.events(model.id)) == events
    with pytest.raises(Conflict):  # and for a file read as having none
        metadata_store.record_scan(model.id, None, scan(), "replica-a", later(5))


def test_other_changes_meanwhile_do_not_stop_it(metadata_store):
    old = scan(version=OLD)
    model = planted(metadata_store, "fraud", b"evil", old)
    metadata_store.update(model.id, {"description": "edited meanwhile"}, "bob", later(1))
    metadata_store.record_scan(model.id, old, UNSAFE, "rescan", later(2))
    stored = metadata_store.get(model.id)
    assert (stored.description, stored.file.scan) == ("edited meanwhile", UNSAFE)


def test_a_missing_version_or_file_is_not_found(metadata_store):
    model = planted(metadata_store, "fraud", b"evil", None)
    metadata_store.delete(model.id, lambda _sha256: None, "alice", later(1))
    with pytest.raises(NotFound) as gone:
        metadata_store.record_scan(model.id, None, UNSAFE, "rescan", later(2))
    assert gone.value.code == "model_not_found"
    bare = metadata_store.create_version(draft("no_file"))
    with pytest.raises(NotFound) as no_file:
        metadata_store.record_scan(bare.id, None, UNSAFE, "rescan", later(2))
    assert no_file.value.code == "file_not_found"
    assert metadata_store.get(bare.id).file is None


def test_racing_re_scans_record_one_verdict(metadata_store):
    old = scan(version=OLD)
    model = planted(metadata_store, "fraud", b"evil", old)
    writers = 6
    barrier = threading.Barrier(writers)
    outcomes: list[str] = []

    def write(n: int) -> None:
        barrier.wait()
        try:
            metadata_store.record_scan(model.id, old, replace(UNSAFE, detail=f"replica {n}"), f"replica-{n}", later(2))
            outcomes.append("recorded")
        except Conflict as exc:
            outcomes.append(exc.code)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["recorded"] + ["scan_conflict"] * (writers - 1)
    scanned = [e for e in metadata_store.events(model.id) if e.kind is EventKind.SCANNED]
    assert len(scanned) == 1
    assert metadata_store.get(model.id).file.scan.detail == f"replica {scanned[0].actor.split('-')[1]}"
