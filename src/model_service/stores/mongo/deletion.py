"""Deleting a version without a transaction, so that a crash never leaves a version whose file is gone.

1. Under the lock of the version's blob (``locks.py``), mark the document ``deleting`` (with the
   ``deleted`` event to record). From then on every read treats the version as deleted.
2. If no other live version has the same sha256, call ``release_blob``. If that fails, lift the
   mark: the version is back, as if nothing happened.
3. Remove the aliases pointing at it (each with its event), record the ``deleted`` event, remove
   the document.

With ``unless_aliased`` (retention), aliases are looked for before 1 and again right after it:
found either time, the mark is lifted and the deletion refused (``version_aliased``).

A process that dies after 1 leaves a version no read returns; :func:`finish_stale` completes
steps 3 once the mark is older than the lock's lease (its holder is then surely gone). If it
died before releasing the blob, the blob stays as an orphan: unreferenced, never missing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import nullcontext
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId

from ...domain.errors import Conflict
from ...domain.models import EventKind, ModelVersion
from ...domain.plans.deletions import deleted, refuse_if_aliased, releases_blob
from ...domain.plans.retry import Contended
from ...domain.plans.updates import changing
from . import aliases
from .documents import event_document, read, to_model, utc
from .locks import BlobLocks
from .schema import LIVE, Collections, live


def delete(db: Collections, locks: BlobLocks, model_id: str, release_blob: Callable[[str], None], actor: str,
           at: datetime, *, unless_aliased: bool = False) -> ModelVersion:
    """See ``MetadataStore.delete``."""
    def attempt() -> ModelVersion:
        document = live(db, model_id, {"file_metadata.sha256": 1, "name": 1, "version": 1})
        if unless_aliased:
            _refuse_if_aliased(db, document)  # before the mark: no reader sees a version come and go
        sha256 = (document.get("file_metadata") or {}).get("sha256")
        with locks.hold(sha256) if sha256 else nullcontext():
            return _delete(db, model_id, document, sha256, release_blob, actor, at, unless_aliased)
    return changing(model_id, attempt)


def _delete(db: Collections, model_id: str, document: Mapping[str, Any], sha256: str | None,
            release_blob: Callable[[str], None], actor: str, at: datetime,
            unless_aliased: bool = False) -> ModelVersion:
    """Under the lock of the version's blob (if any); :class:`Contended` if a file was attached meanwhile."""
    oid = document["_id"]
    event = event_document(deleted(str(oid), document["name"], document["version"], actor, at))
    file = {"file_metadata.sha256": sha256} if sha256 else {"file_metadata": None}
    marked = db.models.find_one_and_update(
        {"_id": oid, **file, **LIVE}, {"$set": {"deleting": {"at": datetime.now(UTC), "event": event}}}, read())
    if marked is None:
        live(db, model_id)  # NotFound if it was deleted meanwhile; else its file changed: again
        raise Contended()
    if unless_aliased:
        # Again once marked: a move that wrote its alias before the mark is seen here (the
        # version is kept); one that writes after it sees the mark and takes its alias back off.
        try:
            _refuse_if_aliased(db, marked)
        except Conflict:
            db.models.update_one({"_id": oid}, {"$unset": {"deleting": ""}})
            raise
    others = 0 if sha256 is None else db.models.count_documents(
        {"file_metadata.sha256": sha256, "_id": {"$ne": oid}, **LIVE}, limit=1)
    if sha256 is not None and releases_blob(sha256, others):
        try:
            release_blob(sha256)  # the last reference: the blob goes before the version does
        except BaseException:
            db.models.update_one({"_id": oid}, {"$unset": {"deleting": ""}})
            raise
    finish(db, oid, event)
    return to_model(marked)


def _refuse_if_aliased(db: Collections, document: Mapping[str, Any]) -> None:
    held = [alias["alias"] for alias in db.aliases.find({"model_id": document["_id"]}, {"alias": 1})]
    refuse_if_aliased(str(document["_id"]), f"{document['name']} {document.get('version', '')}".strip(), held)


def finish(db: Collections, oid: ObjectId, deleted: dict[str, Any]) -> None:
    """The rest of a deletion once its version is marked: aliases, the event, the document."""
    aliases.remove_for_version(db, oid, deleted["actor"], utc(deleted["at"]))
    # one "deleted" event per id, whoever finishes (an upsert), with an id that follows the alias
    # removals' events: at the same time, the history reads "alias removed, then version deleted"
    event = {key: value for key, value in deleted.items() if key not in ("model_id", "kind")}
    db.events.update_one({"model_id": oid, "kind": EventKind.DELETED.value},
                         {"$setOnInsert": {**event, "_id": ObjectId()}}, upsert=True)
    db.models.delete_one({"_id": oid, "deleting": {"$exists": True}})


def finish_stale(db: Collections, locks: BlobLocks, marked_before: datetime) -> int:
    """Finish the deletions marked before ``marked_before``; how many there were."""
    count = 0
    for document in db.models.find({"deleting.at": {"$lt": marked_before}}, {"file_metadata.sha256": 1}):
        sha256 = (document.get("file_metadata") or {}).get("sha256")
        with locks.hold(sha256) if sha256 else nullcontext():
            marked = db.models.find_one({"_id": document["_id"], "deleting": {"$exists": True}}, {"deleting": 1})
            if marked is not None:
                finish(db, document["_id"], marked["deleting"]["event"])
                count += 1
    return count
