"""The store fixtures: every contract test runs once per backend listed here.

A backend joins by adding a parameter (and, if it lacks a capability, by declaring so in a
fixture rather than by ``isinstance`` checks inside tests).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from model_service.domain.ports import BlobStore, MetadataStore
from model_service.stores.blob_local import LocalBlobStore
from model_service.stores.sql.store import SqlMetadataStore


def _sqlite(tmp_path: Path) -> SqlMetadataStore:
    store = SqlMetadataStore.from_url(f"sqlite:///{tmp_path / 'registry.db'}")
    store.prepare(migrate=True)
    return store


METADATA_BACKENDS = {"sqlite": _sqlite}
BLOB_BACKENDS = {"local": lambda tmp_path: LocalBlobStore(tmp_path / "blobs")}


@pytest.fixture(params=sorted(METADATA_BACKENDS))
def metadata_store(request, tmp_path: Path) -> Iterator[MetadataStore]:
    store = METADATA_BACKENDS[request.param](tmp_path)
    yield store
    store.close()


@pytest.fixture
def fresh_metadata_store(request, tmp_path: Path):
    """A store of the same backend whose schema has never been created."""
    return SqlMetadataStore.from_url(f"sqlite:///{tmp_path / 'fresh.db'}")


@pytest.fixture(params=sorted(BLOB_BACKENDS))
def blob_store(request, tmp_path: Path) -> Iterator[BlobStore]:
    store = BLOB_BACKENDS[request.param](tmp_path)
    yield store
    store.close()
