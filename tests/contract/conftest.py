"""The store fixtures: every contract test runs once per backend listed here.

A backend joins by adding its name here and a module in ``tests/backends`` with its
``<name>_metadata_factory`` or ``<name>_blob_factory`` fixture (and, if it lacks a capability,
by declaring so in a fixture rather than by ``isinstance`` checks inside tests).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from model_service.domain.ports import BlobStore, MetadataStore

METADATA_BACKENDS = ["sqlite", "postgresql", "mongomock", "mongodb"]
BLOB_BACKENDS = ["local", "s3", "gridfs", "mongodb_gridfs"]


@pytest.fixture(params=METADATA_BACKENDS)
def metadata_factory(request):
    """Makes fresh stores of the backend under test; every store it made is closed afterwards."""
    make = request.getfixturevalue(f"{request.param}_metadata_factory")
    made: list[MetadataStore] = []

    def factory(name: str = "main", *, prepared: bool = True) -> MetadataStore:
        store = make(name, prepared=prepared)
        made.append(store)
        return store

    factory.schema_versions = getattr(make, "schema_versions", True)
    yield factory
    for store in made:
        store.close()


@pytest.fixture(scope="module", params=METADATA_BACKENDS)
def module_metadata_factory(request):
    """Like ``metadata_factory``, for stores that the read-only tests of a module share: made
    once per module and backend, closed at the module's end."""
    make = request.getfixturevalue(f"{request.param}_module_metadata_factory")
    made: list[MetadataStore] = []

    def factory(name: str = "main", *, prepared: bool = True) -> MetadataStore:
        store = make(name, prepared=prepared)
        made.append(store)
        return store

    yield factory
    for store in made:
        store.close()


@pytest.fixture
def schema_versions(metadata_factory) -> bool:
    """Whether the backend keeps schema versions that must be current before it serves (SQL:
    ``model-service db upgrade``), or creates what it needs at every start (MongoDB: indexes). A
    backend without them says so on its factory: ``make.schema_versions = False``."""
    return metadata_factory.schema_versions


@pytest.fixture
def metadata_store(metadata_factory) -> MetadataStore:
    return metadata_factory("main")


@pytest.fixture
def second_metadata_store(metadata_factory) -> MetadataStore:
    """Another empty store of the same backend (a copy's destination)."""
    return metadata_factory("second")


@pytest.fixture
def fresh_metadata_store(metadata_factory) -> MetadataStore:
    """A store of the same backend whose schema has never been created."""
    return metadata_factory("fresh", prepared=False)


@pytest.fixture(params=BLOB_BACKENDS)
def blob_store(request) -> Iterator[BlobStore]:
    store = request.getfixturevalue(f"{request.param}_blob_factory")("main")
    yield store
    store.close()
