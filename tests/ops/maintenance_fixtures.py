"""A registry on each pair of stores for the gc, fsck and retention tests, and ways to plant
damage in its blob store: a blob deleted, a blob's bytes replaced, an orphan, an upload left
behind."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from model_service.domain.ports import BlobStore, TempBlob
from model_service.domain.registry import Registration, Registry
from model_service.domain.uploads import Upload

# Metadata and blob stores of each pairing, by the names of their tests/backends factories.
PAIRINGS = {
    "embedded": ("sqlite", "local"),
    "postgresql+s3": ("postgresql", "s3"),
    "mongodb+gridfs": ("mongomock", "gridfs"),
}
T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


class Clock:
    """The registry's clock, moved by the test."""

    def __init__(self, now: datetime = T0):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@dataclass
class Stack:
    pairing: str
    registry: Registry
    clock: Clock

    @property
    def metadata(self):
        return self.registry.metadata

    @property
    def blobs(self) -> BlobStore:
        return self.registry.blobs

    def add(self, name: str, data: bytes | None = None, **fields):
        """Register a version of ``name`` (with ``data`` as its file), one minute after the last."""
        self.clock.advance(minutes=1)
        file = None if data is None else received(self.registry, data)
        return self.registry.register(Registration(algorithm="xgboost", name=name, **fields), "alice", file)


def received(registry: Registry, data: bytes) -> Upload:
    upload = registry.begin_upload()
    upload.write(data)
    upload.finish()
    upload.filename = "model.pkl"
    return upload


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def commit_blob(blobs: BlobStore, data: bytes, *, key: str | None = None) -> str:
    """Put ``data`` in the blob store under its sha256 (an orphan), or under ``key`` (damage)."""
    key = key or sha(data)
    upload = blobs.begin_upload()
    try:
        upload.write(data)
        upload.finish()
        upload.commit(key)
    finally:
        upload.abort()
    return key


def replace_bytes(blobs: BlobStore, key: str, data: bytes) -> None:
    """The blob ``key`` now holds ``data`` (same size: a hash mismatch; else a size mismatch too)."""
    blobs.delete(key)
    commit_blob(blobs, data, key=key)


def abandoned_upload(blobs: BlobStore, data: bytes, *, finish: bool = True) -> TempBlob:
    """An upload whose process "died": bytes in temporary space, never committed nor aborted."""
    upload = blobs.begin_upload()
    upload.write(data)
    if finish:
        upload.finish()
    return upload


def later_than_everything() -> datetime:
    """A ``now`` two days ahead, making every leftover older than a day."""
    return datetime.now(UTC) + timedelta(days=2)


@pytest.fixture(name="stack", params=list(PAIRINGS))
def stack_fixture(request) -> Iterator[Stack]:
    """A registry on a pairing of stores, its clock at :data:`T0`."""
    metadata_name, blob_name = PAIRINGS[request.param]
    metadata = request.getfixturevalue(f"{metadata_name}_metadata_factory")("main")
    blobs = request.getfixturevalue(f"{blob_name}_blob_factory")("main")
    clock = Clock()
    yield Stack(request.param, Registry(metadata, blobs, max_file_size=64 << 20, clock=clock), clock)
    metadata.close()
    blobs.close()
