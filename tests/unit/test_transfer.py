"""Copying a registry between store pairs: files verified on arrival, resumable, reported."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from model_service.domain.errors import NotFound, Unavailable
from model_service.domain.registry import Registration, Registry
from model_service.domain.versions import Version
from model_service.operations.transfer import Stores, copy_registry
from model_service.stores.blob_local import LocalBlobStore
from model_service.stores.sql.store import SqlMetadataStore

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def stores(folder: Path) -> Stores:
    metadata = SqlMetadataStore.from_url(f"sqlite:///{folder / 'registry.db'}")
    metadata.prepare(migrate=True)
    return Stores(metadata, LocalBlobStore(folder / "blobs"))


@pytest.fixture
def source(tmp_path):
    side = stores(tmp_path / "source")
    registry = Registry(side.metadata, side.blobs, max_file_size=1 << 20, clock=lambda: NOW)
    for index in range(4):
        model = registry.register(Registration(algorithm="xgboost", name="fraud"), "alice")
        upload = registry.begin_upload()
        upload.write(b"weights %d" % (index % 3))  # v1.0 and v1.3 share one file
        upload.finish()
        upload.filename = "m.pkl"
        registry.attach(model.id, upload, "alice")
    registry.register(Registration(algorithm="svm", name="no_file"), "bob")
    registry.set_alias("fraud", "production", "ops", version="v1.1")
    yield side
    side.metadata.close()


@pytest.fixture
def target(tmp_path):
    side = stores(tmp_path / "target")
    yield side
    side.metadata.close()


def read_all(blobs: LocalBlobStore, sha256: str) -> bytes:
    reader = blobs.open(sha256)
    try:
        return reader.read(1 << 20)
    finally:
        reader.close()


def test_everything_arrives_and_every_file_is_intact(source, target):
    summary = copy_registry(source, target)
    assert summary.ok, summary.failures
    assert (summary.records_copied, summary.versions_copied, summary.blobs_copied, summary.aliases_copied) == \
           (5, 5, 3, 1)
    assert summary.blobs_present == 1  # the shared file, found already copied
    for model_id in source.metadata.model_ids():
        model = source.metadata.get(model_id)
        assert target.metadata.get(model_id) == model
        if model.file is not None:
            content = read_all(target.blobs, model.file.sha256)
            assert hashlib.sha256(content).hexdigest() == model.file.sha256
    assert target.metadata.get_alias("fraud", "production") == source.metadata.get_alias("fraud", "production")


def test_running_it_again_copies_nothing(source, target):
    copy_registry(source, target)
    again = copy_registry(source, target)
    assert again.ok
    assert (again.records_copied, again.blobs_copied, again.aliases_copied) == (0, 0, 0)
    assert (again.records_present, again.aliases_present) == (5, 1)


def test_a_damaged_file_is_reported_and_its_version_left_out(source, target):
    victim = source.metadata.find_version("fraud", Version(1, 1))
    path = source.blobs.path_for(victim.file.sha256)
    path.chmod(0o644)
    path.write_bytes(b"bit rot!!")
    summary = copy_registry(source, target)
    assert not summary.ok
    assert len(summary.failures) == 2  # the version, and its alias which then has nothing to point at
    assert "fraud v1.1" in summary.failures[0] and "arrived as sha256:" in summary.failures[0]
    assert target.blobs.size(victim.file.sha256) is None
    with pytest.raises(NotFound):
        target.metadata.get(victim.id)
    assert summary.records_copied == 4


class FlakyTarget:
    """A metadata store that becomes unavailable after ``allowed`` imports."""

    def __init__(self, store, allowed: int):
        self.store, self.allowed = store, allowed

    def import_record(self, record):
        if self.allowed == 0:
            raise Unavailable("The metadata database failed: connection reset", code="database_error")
        self.allowed -= 1
        return self.store.import_record(record)

    def __getattr__(self, name):
        return getattr(self.store, name)


def test_an_interrupted_copy_is_completed_by_the_next_run(source, target):
    with pytest.raises(Unavailable):
        copy_registry(source, Stores(FlakyTarget(target.metadata, allowed=2), target.blobs), page_size=2)
    assert len(target.metadata.model_ids()) == 2
    summary = copy_registry(source, target, page_size=2)
    assert summary.ok
    assert (summary.records_present, summary.records_copied, summary.aliases_copied) == (2, 3, 1)
    assert target.metadata.summary() == source.metadata.summary()


def test_a_shared_blob_store_is_only_checked(source, tmp_path):
    side = stores(tmp_path / "metadata_only")
    try:
        summary = copy_registry(source, Stores(side.metadata, source.blobs), same_blobs=True)
        assert summary.ok and summary.blobs_copied == 0 and summary.versions_copied == 5
    finally:
        side.metadata.close()
