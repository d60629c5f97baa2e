"""A file's scan result is stored with it on every metadata backend: written with the file (in
the same transaction), read back exactly, and carried by ``model-service migrate``."""

from __future__ import annotations

from dataclasses import replace

from model_service.domain.models import FileInfo
from model_service.domain.query import SearchQuery
from model_service.domain.scanning import FoundGlobal, ScanResult, Verdict, unscanned
from model_service.domain.uploads import Upload

from .helpers import T0, RecordingBlob, accepted, draft, file_info, later

UNSAFE = ScanResult(
    verdict=Verdict.UNSAFE, executable=True, scanned_at=T0.replace(microsecond=123456), scanner="picklescan",
    scanner_version="1.0.5",
    globals=(FoundGlobal("posix", "system", "dangerous"), FoundGlobal("mylib.ünï côde", "Net\\n", "suspicious")),
    reason=None, detail="Loading this file would import posix.system",
)
NON_EXECUTABLE = ScanResult(Verdict.SAFE, False, later(1), reason="non_executable_format", detail="data only")
TIMED_OUT = unscanned("scan_timeout", "took too long", executable=True, at=later(2), scanner="picklescan",
                      scanner_version="1.0.5")


def scanned(content: bytes, scan: ScanResult | None) -> Upload:
    info: FileInfo = replace(file_info(content), scan=scan)
    return accepted(content, info, RecordingBlob(content))


def test_a_version_created_with_its_file_keeps_the_scan(metadata_store):
    model = metadata_store.create_version(draft("fraud"), scanned(b"evil", UNSAFE))
    assert model.file.scan == UNSAFE
    assert metadata_store.get(model.id).file.scan == UNSAFE
    assert metadata_store.latest("fraud").file.scan == UNSAFE
    assert metadata_store.find_version("fraud", model.version).file.scan == UNSAFE
    assert metadata_store.search(SearchQuery(limit=10)).items[0].file.scan == UNSAFE


def test_a_file_attached_later_keeps_the_scan(metadata_store):
    created = metadata_store.create_version(draft("onnx_model"))
    assert created.file is None
    attached = metadata_store.attach_file(created.id, scanned(b"graph", NON_EXECUTABLE), "alice")
    assert attached.file.scan == NON_EXECUTABLE
    assert metadata_store.get(created.id).file.scan == NON_EXECUTABLE


def test_every_verdict_round_trips(metadata_store):
    for index, scan in enumerate((UNSAFE, NON_EXECUTABLE, TIMED_OUT)):
        model = metadata_store.create_version(draft(f"m{index}"), scanned(b"content %d" % index, scan))
        assert metadata_store.get(model.id).file.scan == scan


def test_a_file_without_a_scan_reads_back_without_one(metadata_store):
    model = metadata_store.create_version(draft("old"), RecordingBlob(b"before scanning").upload)
    assert metadata_store.get(model.id).file.scan is None


def test_the_scan_survives_other_changes(metadata_store):
    model = metadata_store.create_version(draft("fraud"), scanned(b"evil", UNSAFE))
    metadata_store.update(model.id, {"description": "changed"}, "bob", later(5))
    metadata_store.record_download(model.id, "bob", later(6), {})
    assert metadata_store.get(model.id).file.scan == UNSAFE


def test_migrate_carries_the_scan(metadata_store, second_metadata_store):
    with_scan = metadata_store.create_version(draft("fraud"), scanned(b"evil", UNSAFE))
    without = metadata_store.create_version(draft("fraud", at=later(1)), RecordingBlob(b"old").upload)
    for model in (with_scan, without):
        assert second_metadata_store.import_record(metadata_store.export_record(model.id))
    assert second_metadata_store.get(with_scan.id).file.scan == UNSAFE
    assert second_metadata_store.get(without.id).file.scan is None
    assert second_metadata_store.get(with_scan.id) == metadata_store.get(with_scan.id)
