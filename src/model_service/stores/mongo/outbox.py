"""Events written atomically with the change they record, without multi-document transactions.

A change and its events are one single-document write: the events go into an ``outbox`` array
of the document that changes (a version in ``models``, an alias in ``aliases``) in the same
update. They are then *published* — inserted into ``events`` under the ``_id`` they were given
in the outbox, then pulled from the outbox. Publishing is idempotent (an event already in
``events`` is a duplicate key, ignored), so anyone may redo it: the writer right after its
change, or :func:`publish_pending` (at start-up, and periodically) for a writer that died in
between. Readers may briefly miss an event that is still in an outbox, never see one twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bson import ObjectId
from pymongo.collection import Collection
from pymongo.errors import BulkWriteError

from .documents import Document

DUPLICATE_KEY = 11000
BATCH = 1000
PENDING = {"outbox._id": {"$exists": True}}


def insert_new(events: Collection[Document], documents: list[dict[str, Any]]) -> None:
    """Insert the documents, skipping those whose ``_id`` is already there."""
    for start in range(0, len(documents), BATCH):
        try:
            events.insert_many(documents[start:start + BATCH], ordered=False)
        except BulkWriteError as exc:
            details = exc.details or {}
            if details.get("writeConcernErrors") or any(
                    error.get("code") != DUPLICATE_KEY for error in details.get("writeErrors", [])):
                raise


def publish(events: Collection[Document], holder: Collection[Document], holder_id: ObjectId,
            outbox: list[dict[str, Any]], *, model_name: str | None = None) -> None:
    """Move ``outbox`` events of the document ``holder_id`` into ``events``. A version's outbox
    events get the version's id and name here (``model_name``); an alias's carry their own."""
    if not outbox:
        return
    documents = outbox if model_name is None else [
        {**event, "model_id": holder_id, "model_name": model_name} for event in outbox]
    insert_new(events, documents)
    holder.update_one({"_id": holder_id}, {"$pull": {"outbox": {"_id": {"$in": [e["_id"] for e in outbox]}}}})


def pushed(outbox: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The ``$push`` that puts events into a document's outbox."""
    return {"outbox": {"$each": list(outbox)}}


def publish_pending(events: Collection[Document], models: Collection[Document], aliases: Collection[Document]) -> int:
    """Publish every outbox left behind (by a process that died between a change and its
    publication); returns how many documents had one."""
    count = 0
    for document in models.find(PENDING, {"name": 1, "outbox": 1}):
        publish(events, models, document["_id"], document["outbox"], model_name=document["name"])
        count += 1
    for document in aliases.find(PENDING, {"outbox": 1}):
        publish(events, aliases, document["_id"], document["outbox"])
        count += 1
    return count
