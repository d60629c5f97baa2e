"""What every concern of the MongoDB store shares: the database and its collections, the blob
locks, the insertion counter, outbox publication and audit records appended after a write.

Consistency without multi-document transactions (standalone servers and test doubles have
none) — every guarantee of the port rests on single-document atomic operations, unique indexes
and the order of writes:

* Version numbers: read the name's latest, insert with the next number; the unique index
  (name, major, minor) refuses a number taken meanwhile and the insert is planned again with a
  fresh read: unique and gap-free under any number of writers.
* Events: a change and its events are one document write (the events ride in the document's
  ``outbox``, then are copied to ``events``: ``outbox.py``). A crash between the two loses
  nothing: the outbox is published again at start-up and by a periodic sweep.
* Blob references: changes to the references of one sha256 hold that blob's lock (``locks.py``).
  Under it, a new reference commits the blob *before* writing metadata that points at it, so a
  crash can leave an unreferenced blob (an orphan) but never metadata pointing at no blob.
  Deletions mark their version first (``deletion.py``).
* Aliases move by compare-and-swap on the alias document's revision (``aliases.py``); updates
  and re-scanned verdicts (``scans.py``) by compare-and-swap on the version's ``rev``; downloads by
  one ``$inc`` with their event.

Foreign exceptions stop at the public methods (``errors.py``): connection and server failures
become :class:`Unavailable`, values MongoDB cannot store :class:`Invalid`.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any, TypeVar

from bson import ObjectId
from pymongo import MongoClient, ReturnDocument
from pymongo.database import Database

from ...domain.audit import AuditHook, append_after
from .audit import append_audit
from .documents import Document
from .locks import LEASE_SECONDS, BlobLocks
from .outbox import publish
from .schema import MODELS, Collections

T = TypeVar("T")
SWEEP_SECONDS = 60.0


class MongoBase:
    """The database and its plumbing; each concern of the store is a mixin on top of it."""

    local_point_reads = False

    def __init__(self, database: Database[Document], *, client: MongoClient[Document] | None = None,
                 sweep_seconds: float | None = SWEEP_SECONDS, lease_seconds: float = LEASE_SECONDS):
        """``client``: given when the store owns it (closed with the store); ``sweep_seconds``:
        how often to publish leftover outboxes and finish interrupted deletions (None: never)."""
        self.database = database
        self.db = Collections.of(database)
        self._client = client
        self._locks = BlobLocks(self.db.locks, lease_seconds=lease_seconds)
        self._lease = timedelta(seconds=lease_seconds)
        self._sweep_seconds = sweep_seconds
        self._sweeper: threading.Thread | None = None
        self._stop = threading.Event()

    def _next_seq(self) -> int:
        """The next insertion number (one atomic ``$inc`` on the counter document)."""
        counter = self.db.counters.find_one_and_update({"_id": MODELS}, {"$inc": {"seq": 1}}, upsert=True,
                                                       return_document=ReturnDocument.AFTER)
        assert counter is not None  # an upsert returning the document after it always finds one
        return int(counter["seq"])

    def _publish(self, oid: ObjectId, name: str, outbox: list[dict[str, Any]]) -> None:
        publish(self.db.events, self.db.models, oid, outbox, model_name=name)

    def _audited(self, audit: AuditHook | None, result: T) -> T:
        """``result`` of a write, after appending its audit record (no multi-document
        transactions here: right after the write, which stands if the append fails)."""
        append_after(lambda record: append_audit(self.database, record), audit, result)
        return result
