"""GridFS: on mongomock (in memory) always, and on a real MongoDB when ``TEST_MONGODB_URL`` is set.

mongomock has no GridFS of its own: ``enable_gridfs_integration()`` lets pymongo's ``GridOut``
(the store's reader) accept mongomock collections; the store writes the GridFS documents itself,
so nothing else is needed. The real server's variant (``mongodb_gridfs``) uses a database of its
own per store, dropped afterwards; it is skipped when ``TEST_MONGODB_URL`` is unset (not
``MONGODB_URL``: the app's settings read that one, and would move every other test's metadata).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import mongomock
import mongomock.gridfs
import pytest

from model_service.stores.mongo.gridfs import GridFsBlobStore

mongomock.gridfs.enable_gridfs_integration()


@pytest.fixture
def gridfs_blob_factory() -> Iterator:
    """Fresh stores on mongomock: a client of their own each, so nothing is shared between tests."""
    made: list[GridFsBlobStore] = []

    def make(_name: str = "main", **options) -> GridFsBlobStore:  # no name needed: a client of its own
        client = mongomock.MongoClient()
        store = GridFsBlobStore(client["tensorfleet"], "models", **options)
        made.append(store)
        return store

    yield make
    for store in made:
        store.close()


@pytest.fixture
def mongodb_gridfs_blob_factory() -> Iterator:
    url = os.environ.get("TEST_MONGODB_URL")
    if not url:
        pytest.skip("TEST_MONGODB_URL is not set: no real MongoDB to run GridFS against")
    made: list[tuple[GridFsBlobStore, str]] = []

    def make(_name: str = "main", **options) -> GridFsBlobStore:  # no name needed: a database of its own
        database = f"ms_test_{secrets.token_hex(6)}"
        store = GridFsBlobStore.from_url(url, database=database, bucket="models", **options)
        made.append((store, database))
        return store

    yield make
    for store, database in made:
        store.database.client.drop_database(database)
        store.close()
