"""Per-blob locks: one lease document per sha256 in ``blob_locks``, taken and released atomically.

Changes to the references of one blob (a version gaining or losing the file with that sha256)
must not interleave: otherwise a deletion could release the blob just as an upload decides it
is already there. A lock is a document ``{_id: <sha256>, owner, expires}``: taken by one
single-document upsert that matches only a free or expired lock (a held one makes the upsert
collide with the existing ``_id``: DuplicateKeyError, so the taker waits and retries), released
by deleting it if the owner is still us. A holder that dies keeps it until ``expires``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from bson import ObjectId
from pymongo.collection import Collection
from pymongo.errors import DuplicateKeyError

from ...domain.errors import Unavailable
from .documents import Document

LEASE_SECONDS = 600  # longer than any blob commit or release (an S3 copy of a large file included)
WAIT_SECONDS = 120


class BlobLocks:
    def __init__(self, collection: Collection[Document], *, lease_seconds: float = LEASE_SECONDS,
                 wait_seconds: float = WAIT_SECONDS):
        self.collection = collection
        self.lease = timedelta(seconds=lease_seconds)
        self.wait_seconds = wait_seconds

    @contextmanager
    def hold(self, sha256: str) -> Iterator[None]:
        """Hold the lock of ``sha256`` for the duration of the block."""
        owner = ObjectId()
        self._take(sha256, owner)
        try:
            yield
        finally:
            self.collection.delete_one({"_id": sha256, "owner": owner})

    def _take(self, sha256: str, owner: ObjectId) -> None:
        deadline = time.monotonic() + self.wait_seconds
        delay = 0.001
        while True:
            now = datetime.now(UTC)
            try:
                self.collection.find_one_and_update(
                    {"_id": sha256, "$or": [{"owner": None}, {"expires": {"$lt": now}}]},
                    {"$set": {"owner": owner, "expires": now + self.lease}},
                    upsert=True,
                )
                return
            except DuplicateKeyError:  # held by another writer
                pass
            if time.monotonic() > deadline:
                raise Unavailable(f"The file {sha256} is locked by another operation; try again",
                                  code="database_busy", details={"sha256": sha256})
            time.sleep(random.uniform(delay / 2, delay))
            delay = min(delay * 2, 0.05)
