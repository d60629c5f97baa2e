"""The MongoDB metadata store: on mongomock (in memory) always, and on a real server when one is given.

``mongomock_metadata_factory`` gives each store a mongomock client of its own. mongomock does
not make its operations atomic between threads as a MongoDB server does for each document
(its ``find_one_and_update`` finds, then updates), so the database is wrapped in
:class:`Serialised`: one operation at a time, cursors read inside the operation. That is the
server's single-document atomicity (and more), so the concurrency tests exercise the store's
own protocol — unique index plus retry, compare-and-swap on revisions, blob locks — rather than
mongomock's races.

``mongodb_metadata_factory`` uses the server at ``TEST_MONGODB_URL`` (or ``MONGODB_URL``), a
fresh database per store, dropped afterwards; skipped when neither is set. (No MongoDB server
can be installed where this suite was written: the real-server variant has not run there.)

MongoDB keeps no schema versions (every start creates what is missing), which the factories
declare with ``make.schema_versions = False`` for the contract suite.
"""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Iterator
from typing import Any

import mongomock
import pytest
from mongomock.collection import Cursor
from mongomock.command_cursor import CommandCursor
from pymongo import MongoClient

from model_service.stores.mongo.metadata import MongoMetadataStore


class Serialised:
    """A mongomock database or collection whose every call runs alone, results read in full."""

    def __init__(self, target: Any, lock: threading.RLock | None = None):
        self._target = target
        self._lock = lock or threading.RLock()

    def __getitem__(self, name: str) -> Serialised:
        return Serialised(self._target[name], self._lock)

    def get_collection(self, name: str, **options: Any) -> Serialised:
        return Serialised(self._target.get_collection(name, **options), self._lock)

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if not callable(value):
            return value

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                result = value(*args, **kwargs)
                return iter(list(result)) if isinstance(result, (Cursor, CommandCursor)) else result

        return call


def mongomock_store(name: str = "main", *, prepared: bool = True) -> MongoMetadataStore:
    """A fresh store on its own in-memory mongomock server."""
    client = mongomock.MongoClient(tz_aware=True)
    store = MongoMetadataStore(Serialised(client[f"tensorfleet_{name}"]), sweep_seconds=None)
    if prepared:
        store.prepare(migrate=True)
    return store


def _mongomock_factory():
    def make(name: str = "main", *, prepared: bool = True) -> MongoMetadataStore:
        return mongomock_store(name, prepared=prepared)

    make.schema_versions = False
    return make


@pytest.fixture
def mongomock_metadata_factory():
    return _mongomock_factory()


@pytest.fixture(scope="module")
def mongomock_module_metadata_factory():
    return _mongomock_factory()


@pytest.fixture
def mongodb_metadata_factory() -> Iterator:
    yield from _database_factory()


@pytest.fixture(scope="module")
def mongodb_module_metadata_factory() -> Iterator:
    yield from _database_factory()


def _database_factory() -> Iterator:
    url = os.environ.get("TEST_MONGODB_URL") or os.environ.get("MONGODB_URL")
    if not url:
        pytest.skip("neither TEST_MONGODB_URL nor MONGODB_URL is set: no real MongoDB to run against")
    databases: list[str] = []

    def make(name: str = "main", *, prepared: bool = True) -> MongoMetadataStore:
        database = f"ms_test_{name}_{secrets.token_hex(4)}"
        databases.append(database)
        store = MongoMetadataStore.from_url(url, database=database, sweep_seconds=None)
        if prepared:
            store.prepare(migrate=True)
        return store

    make.schema_versions = False
    yield make
    with MongoClient(url, serverSelectionTimeoutMS=5000) as client:
        for database in databases:
            client.drop_database(database)
