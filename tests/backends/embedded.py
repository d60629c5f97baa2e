"""The embedded defaults: SQLite files and local folders under the test's tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest

from model_service.stores.blob_local import LocalBlobStore
from model_service.stores.sql.store import SqlMetadataStore


def _sqlite_factory(root: Path):
    def make(name: str = "main", *, prepared: bool = True) -> SqlMetadataStore:
        store = SqlMetadataStore.from_url(f"sqlite:///{root / name / 'registry.db'}")
        if prepared:
            store.prepare(migrate=True)
        return store

    return make


@pytest.fixture
def sqlite_metadata_factory(tmp_path: Path):
    return _sqlite_factory(tmp_path)


@pytest.fixture(scope="module")
def sqlite_module_metadata_factory(tmp_path_factory: pytest.TempPathFactory):
    return _sqlite_factory(tmp_path_factory.mktemp("sqlite"))


@pytest.fixture
def local_blob_factory(tmp_path: Path):
    def make(name: str = "main") -> LocalBlobStore:
        return LocalBlobStore(tmp_path / name / "blobs")

    return make
