"""Records in and out of the MongoDB store as they are, for ``model-service migrate``.

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

from collections.abc import Callable
from datetime import UTC, datetime

from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from ...domain.errors import Conflict, Invalid
from ...domain.models import ModelVersion
from ...domain.ports import ModelRecord
from .documents import HIDDEN, event_document, model_document, object_id, to_event, to_model
from .outbox import insert_new, publish
from .schema import LIVE, Collections

EVENT_ORDER = [("at", 1), ("_id", 1)]


def _id_or_invalid(model_id: str) -> ObjectId:
    oid = object_id(model_id)
    if oid is None:
        raise Invalid(f"'{str(model_id)[:40]}' is not a model id", code="invalid_id")
    return oid


def model_ids(db: Collections, after: str | None, limit: int) -> list[str]:
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


def export_record(db: Collections, model_id: str) -> ModelRecord:
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
    return Conflict(f"'{model.name}' {model.version} is already another version here ({existing['_id']})",
                    code="version_exists", details={"model_id": model.id, "name": model.name,
                                                    "version": str(model.version),
                                                    "existing_model_id": str(existing["_id"])})


def import_record(db: Collections, record: ModelRecord, next_seq: Callable[[], int]) -> bool:
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
    insert_new(db.events, [event_document(event.kind, event.actor, event.at, event.data, model_id=oid,
                                          model_name=event.model_name) for event in record.events])
    if model is not None:
        try:
            db.models.insert_one(model_document(model, next_seq()))
        except DuplicateKeyError:
            clash = _clash(db, model)
            if clash is not None or db.models.find_one({"_id": oid}, {"_id": 1}) is None:
                db.events.delete_many({"model_id": oid})  # written meanwhile: undo, as if never begun
                db.imports.delete_one({"_id": oid})
                raise clash or Conflict(f"Model {model.id} clashes with a version written meanwhile",
                                        code="version_exists", details={"model_id": model.id}) from None
            # else: this record's own version, written before an interruption
    db.imports.delete_one({"_id": oid})
    return True
