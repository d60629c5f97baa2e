"""The MongoDB store's upkeep: start-up (indexes, recovery of what a crashed process left
half-done) and health, blob references for gc and fsck, and records copied in and out as they
are (``model-service migrate``, export, import).

Records in and out of the MongoDB store as they are, for ``model-service migrate``.

A record (a version, if it still exists, and every event of its id) can hold more events than
one document may (16 MB), so it cannot be written in one single-document operation. Instead:
a marker ``imports: {_id: <model id>}`` is inserted first (one atomic write, which also stops a
concurrent import of the same record), then the events, then the version, then the marker is
removed. A copy interrupted half-way leaves the marker; running the copy again finds it, drops
the events the interrupted run wrote and writes the record again, instead of reporting it
present. Only a record without marker, version or events is new; one with a version or events
and no marker is already here (False).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from pymongo.errors import DuplicateKeyError, PyMongoError

from ...domain import refusals
from ...domain.errors import Conflict, Invalid
from ...domain.models import Alias, ModelVersion, Status
from ...domain.ports.health import Health
from ...domain.ports.maintenance import FileReference, ModelRecord
from . import aliases as alias_docs
from . import deletion
from .base import MongoBase
from .documents import HIDDEN, event_document, model_document, object_id, to_event, to_model
from .errors import translated
from .locks import BlobLocks
from .outbox import insert_new, publish, publish_pending
from .schema import EVENT_ORDER, LIVE, Collections, ensure_indexes, missing_indexes

log = logging.getLogger(__name__)


# ---- blob references ------------------------------------------------------------------------------

_LOWEST_ID = "0" * 24
_PROJECTION = {"file_metadata.sha256": 1, "file_metadata.size_bytes": 1, "name": 1, "version": 1, "status": 1}


def _file_references(db: Collections, after: tuple[str, str] | None, limit: int) -> list[FileReference]:
    """See ``MetadataStore.file_references``: served by the ``file_metadata.sha256`` index."""
    if limit <= 0:
        return []
    condition: dict[str, Any] = {"file_metadata.sha256": {"$type": "string"}, **LIVE}
    if after is not None:
        sha256, model_id = after
        later: list[dict[str, Any]] = [{"file_metadata.sha256": {"$gt": sha256}}]
        if ObjectId.is_valid(model_id) and len(model_id) == 24:
            later.append({"file_metadata.sha256": sha256, "_id": {"$gt": ObjectId(model_id)}})
        elif model_id < _LOWEST_ID:  # before every id ("" included): the whole of that sha256's group
            later.append({"file_metadata.sha256": sha256})
        condition = {"$and": [condition, {"$or": later}]}
    found = db.models.find(condition, _PROJECTION, sort=[("file_metadata.sha256", 1), ("_id", 1)], limit=limit)
    return [FileReference(sha256=document["file_metadata"]["sha256"], model_id=str(document["_id"]),
                          name=document["name"], version=document["version"],
                          size_bytes=int(document["file_metadata"]["size_bytes"]), status=Status(document["status"]))
            for document in found]


def _delete_blob_if_unreferenced(db: Collections, locks: BlobLocks, sha256: str,
                                release_blob: Callable[[str], None]) -> bool:
    """See ``MetadataStore.delete_blob_if_unreferenced``. Under the blob's lock, which every
    new reference holds while it commits the blob and writes the version that points at it, and
    every deletion while it releases it. A version marked ``deleting`` by a process that died
    no longer counts (no read returns it, and its deletion is finished without its blob)."""
    with locks.hold(sha256):
        if db.models.count_documents({"file_metadata.sha256": sha256, **LIVE}, limit=1):
            return False
        release_blob(sha256)
        return True


# ---- records copied in and out ----------------------------------------------------------------------

def _id_or_invalid(model_id: str) -> ObjectId:
    oid = object_id(model_id)
    if oid is None:
        raise Invalid(f"'{str(model_id)[:40]}' is not a model id", code="invalid_id")
    return oid


def _model_ids(db: Collections, after: str | None, limit: int) -> list[str]:
    """Ids of versions and of events' versions, ascending, both read off their ``_id``/``model_id`` indexes."""
    if limit <= 0:
        return []
    bound = {} if after is None else {"$gt": _id_or_invalid(after)}
    versions = [doc["_id"] for doc in db.models.find({"_id": bound} if bound else {}, {"_id": 1},
                                                      sort=[("_id", 1)], limit=limit)]
    if len(versions) == limit:  # no id beyond the page's last version can be on this page
        bound = {**bound, "$lte": versions[-1]}
    logged = [row["_id"] for row in db.events.aggregate([
        {"$match": {"model_id": bound} if bound else {}},
        {"$sort": {"model_id": 1}},
        {"$group": {"_id": "$model_id"}},
        {"$sort": {"_id": 1}},
        {"$limit": limit},
    ])]
    return [str(oid) for oid in sorted(set(versions) | set(logged))[:limit]]


def _export_record(db: Collections, model_id: str) -> ModelRecord:
    oid = object_id(model_id)
    if oid is None:
        return ModelRecord(model_id, None, [])
    document = db.models.find_one({"_id": oid, **LIVE}, {field: 0 for field in HIDDEN if field != "outbox"})
    if document is not None and document.get("outbox"):  # events still on their way: publish them first
        publish(db.events, db.models, oid, document["outbox"], model_name=document["name"])
    events = [to_event(event) for event in db.events.find({"model_id": oid}, sort=EVENT_ORDER)]
    return ModelRecord(model_id, None if document is None else to_model(document), events)


def _clash(db: Collections, model: ModelVersion) -> Conflict | None:
    existing = db.models.find_one({"name": model.name, "version_major": model.version.major,
                                   "version_minor": model.version.minor}, {"_id": 1})
    if existing is None or str(existing["_id"]) == model.id:
        return None
    return refusals.version_exists(model, str(existing["_id"]))


def _import_record(db: Collections, record: ModelRecord, next_seq: Callable[[], int]) -> bool:
    oid = _id_or_invalid(record.model_id)
    model = record.model
    if db.imports.find_one({"_id": oid}, {"_id": 1}) is not None:  # interrupted: start this record again
        db.events.delete_many({"model_id": oid})
    else:
        if db.models.find_one({"_id": oid}, {"_id": 1}) or db.events.find_one({"model_id": oid}, {"_id": 1}):
            return False
        if model is not None and (clash := _clash(db, model)) is not None:
            raise clash
        try:
            db.imports.insert_one({"_id": oid, "started_at": datetime.now(UTC)})
        except DuplicateKeyError:  # the same record imported concurrently
            return False
    # new ids, in the record's order: events of one time keep their order, as in the source
    insert_new(db.events, [event_document(event) for event in record.events])
    if model is not None:
        try:
            db.models.insert_one(model_document(model, next_seq()))
        except DuplicateKeyError:
            clash = _clash(db, model)
            if clash is not None or db.models.find_one({"_id": oid}, {"_id": 1}) is None:
                db.events.delete_many({"model_id": oid})  # written meanwhile: undo, as if never begun
                db.imports.delete_one({"_id": oid})
                raise clash or refusals.written_meanwhile(model.id) from None
            # else: this record's own version, written before an interruption
    db.imports.delete_one({"_id": oid})
    return True


class MongoMaintenance(MongoBase):
    # ---- start-up and health ----------------------------------------------------------------

    @translated
    def prepare(self, *, migrate: bool) -> None:  # noqa: ARG002 - the port's keyword; no schema to migrate
        """Create the indexes (idempotent) and finish what a crashed process left half-done.
        MongoDB has no schema versions, so ``migrate`` changes nothing: every start is up to date."""
        ensure_indexes(self.database)
        self.recover()
        if self._sweep_seconds and self._sweeper is None:
            self._sweeper = threading.Thread(target=self._sweep, name="mongo-metadata-sweep", daemon=True)
            self._sweeper.start()

    def _sweep(self) -> None:
        while not self._stop.wait(self._sweep_seconds):
            try:
                self.recover()
            except Exception:
                log.warning("Sweeping the MongoDB metadata store failed", exc_info=True)

    @translated
    def recover(self, *, now: datetime | None = None) -> int:
        """Publish outboxes left behind, and finish deletions marked more than a lease ago
        (their process died; their blob, if it was not released, is left as an orphan).
        Returns how many documents needed it."""
        count = publish_pending(self.db.events, self.db.models, self.db.aliases)
        count += deletion.finish_stale(self.db, self._locks, (now or datetime.now(UTC)) - self._lease)
        return count

    def check(self) -> Health:
        info: dict[str, Any] = {"backend": "mongodb", "database": self.database.name}
        try:
            started = time.perf_counter()
            self.database.command("ping")
            info["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
            missing = missing_indexes(self.database)
        except PyMongoError as exc:
            return Health(False, f"unhealthy: {str(exc).split(', Timeout:')[0][:200]}", info)
        if missing:
            return Health(False, f"unhealthy: indexes {', '.join(missing)} are missing (restart the service, or "
                                 "run `model-service db upgrade`)", info)
        return Health(True, info=info)

    @translated
    def refresh_statistics(self) -> None:
        """MongoDB picks plans by trying candidate indexes as it runs: nothing to refresh."""

    def close(self) -> None:
        self._stop.set()
        if self._sweeper is not None:
            self._sweeper.join(timeout=5)
        if self._client is not None:
            self._client.close()

    # ---- blob references -------------------------------------------------------------------------

    @translated
    def file_references(self, after: tuple[str, str] | None = None, limit: int = 500) -> list[FileReference]:
        return _file_references(self.db, after, limit)

    @translated
    def delete_blob_if_unreferenced(self, sha256: str, release_blob: Callable[[str], None]) -> bool:
        return _delete_blob_if_unreferenced(self.db, self._locks, sha256, release_blob)

    # ---- moving between stores ----------------------------------------------------------------

    @translated
    def model_ids(self, after: str | None = None, limit: int = 500) -> list[str]:
        return _model_ids(self.db, after, limit)

    @translated
    def export_record(self, model_id: str) -> ModelRecord:
        return _export_record(self.db, model_id)

    @translated
    def import_record(self, record: ModelRecord) -> bool:
        return _import_record(self.db, record, self._next_seq)

    @translated
    def all_aliases(self) -> list[Alias]:
        return alias_docs.all_aliases(self.db)

    @translated
    def import_alias(self, alias: Alias) -> bool:
        return alias_docs.import_alias(self.db, alias)
