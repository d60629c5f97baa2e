"""Versions and their events in MongoDB: each change read, planned by the domain
(:mod:`~...domain.plans`) and written as one document write with its events in the outbox;
point reads, the search, and the event log's queries."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from ...domain import refusals
from ...domain.audit import AuditHook
from ...domain.models import Draft, Event, EventKind, ModelVersion
from ...domain.plans.files import downloaded, plan_attach
from ...domain.plans.retry import Contended
from ...domain.plans.updates import changing, plan_update
from ...domain.plans.versions import Latest, allocating, plan_version
from ...domain.ports.records import Page
from ...domain.query import SearchQuery
from ...domain.uploads import Upload
from ...domain.versions import Version
from . import deletion
from .base import MongoBase
from .documents import (
    changed_fields,
    file_document,
    model_document,
    object_id,
    outbox_document,
    read,
    stamp,
    to_event,
    to_model,
)
from .errors import translated
from .outbox import pushed
from .query import missing_flags, needs_pipeline, sort_terms, translate
from .schema import EVENT_ORDER, LIVE, live


class MongoRecords(MongoBase):
    # ---- writes -------------------------------------------------------------------------------

    @translated
    def create_version(self, draft: Draft, upload: Upload | None = None,
                       audit: AuditHook | None = None) -> ModelVersion:
        seq = self._next_seq()
        if upload is None:
            return self._audited(audit, allocating(draft.name, lambda: self._insert_version(draft, None, seq)))
        with self._locks.hold(upload.accepted.sha256):
            upload.commit()  # first: no metadata ever points at a blob that is not there
            model = allocating(draft.name, lambda: self._insert_version(draft, upload, seq))
        return self._audited(audit, model)

    def _insert_version(self, draft: Draft, upload: Upload | None, seq: int) -> ModelVersion:
        """One attempt: :class:`Contended` if the number was taken between the read and the insert."""
        found = self.db.models.find_one({"name": draft.name}, {"version_major": 1, "version_minor": 1},
                                        sort=[("version_major", -1), ("version_minor", -1)])
        latest = None if found is None else Latest(str(found["_id"]),
                                                   Version(found["version_major"], found["version_minor"]))
        plan = plan_version(draft, latest, None if upload is None else upload.accepted)
        document = model_document(plan.model, seq)
        document["outbox"] = outbox = [outbox_document(event) for event in plan.events]
        try:
            self.db.models.insert_one(document)
        except DuplicateKeyError as exc:
            if self.db.models.find_one({"_id": document["_id"]}, {"_id": 1}) is not None:
                raise refusals.model_exists(draft.id) from exc
            raise Contended() from exc
        self._publish(document["_id"], draft.name, outbox)
        return to_model(document)

    @translated
    def update(self, model_id: str, values: Mapping[str, Any], actor: str, at: datetime,
               audit: AuditHook | None = None) -> ModelVersion:
        return self._audited(audit, changing(model_id, lambda: self._update(model_id, values, actor, at)))

    def _update(self, model_id: str, values: Mapping[str, Any], actor: str, at: datetime) -> ModelVersion:
        """One compare-and-swap on the version's ``rev``: :class:`Contended` if it changed meanwhile."""
        document = live(self.db, model_id, read())
        plan = plan_update(to_model(document), values, actor, stamp(at))
        if not plan.changes:
            return plan.model
        outbox = [outbox_document(event) for event in plan.events]
        change: dict[str, Any] = {"$set": changed_fields(plan.model, plan.fields), "$inc": {"rev": 1}}
        if outbox:
            change["$push"] = pushed(outbox)
        written = self.db.models.find_one_and_update({"_id": document["_id"], "rev": document.get("rev"), **LIVE},
                                                     change, read(), return_document=ReturnDocument.AFTER)
        if written is None:
            raise Contended()  # changed (or deleted) meanwhile: read it again
        self._publish(document["_id"], plan.model.name, outbox)
        return to_model(written)

    @translated
    def attach_file(self, model_id: str, upload: Upload, actor: str,
                    audit: AuditHook | None = None) -> ModelVersion:
        file = upload.accepted

        def attempt() -> ModelVersion:
            document = live(self.db, model_id, read())
            plan = plan_attach(to_model(document), file, actor)  # file_exists before the blob is committed
            upload.commit()  # first: no metadata ever points at a blob that is not there
            uploaded = outbox_document(plan.event)
            written = self.db.models.find_one_and_update(
                {"_id": document["_id"], "file_metadata": None, **LIVE},
                {"$set": {"file_metadata": file_document(file), "updated_at": stamp(plan.model.updated_at)},
                 "$push": pushed([uploaded])},
                read(), return_document=ReturnDocument.AFTER)
            if written is None:  # a file attached, or a deletion begun, since the read: look again
                raise Contended()
            self._publish(document["_id"], document["name"], [uploaded])
            return to_model(written)

        with self._locks.hold(file.sha256):
            return self._audited(audit, changing(model_id, attempt))

    @translated
    def delete(self, model_id: str, release_blob: Callable[[str], None], actor: str, at: datetime,
               audit: AuditHook | None = None, *, unless_aliased: bool = False) -> ModelVersion:
        return self._audited(audit, deletion.delete(self.db, self._locks, model_id, release_blob, actor, at,
                                                    unless_aliased=unless_aliased))

    @translated
    def record_download(self, model_id: str, actor: str, at: datetime, data: Mapping[str, Any]) -> None:
        oid = object_id(model_id)
        if oid is None:
            return
        # an outbox event takes the id and name of the document holding it when it is published
        event = outbox_document(downloaded(model_id, "", actor, at, data))
        document = self.db.models.find_one_and_update(
            {"_id": oid, **LIVE}, {"$inc": {"download_count": 1}, "$push": pushed([event])}, {"name": 1})
        if document is not None:  # else deleted meanwhile: nothing to count
            self._publish(oid, document["name"], [event])

    # ---- reads --------------------------------------------------------------------------------

    @translated
    def get(self, model_id: str) -> ModelVersion:
        return to_model(live(self.db, model_id, read()))

    @translated
    def search(self, query: SearchQuery) -> Page:
        condition = translate(query.where)
        match = {"$and": [condition, LIVE]} if condition else LIVE
        total = self.db.models.count_documents(match)
        if query.offset >= total:
            return Page([], total)
        terms = sort_terms(query.sort)
        found: Iterable[dict[str, Any]]
        if needs_pipeline(terms):  # a key may be missing: flag it, so that missing values sort last
            added, order = missing_flags(terms)
            found = self.db.models.aggregate([
                {"$match": match}, {"$addFields": added}, {"$sort": order},
                {"$skip": query.offset}, {"$limit": query.limit},
                {"$project": {**read(), **{flag: 0 for flag in added}}},
            ], allowDiskUse=True)
        else:
            found = self.db.models.find(match, read(), sort=[(path, direction) for path, direction, _ in terms],
                                        skip=query.offset, limit=query.limit)
        return Page([to_model(document) for document in found], total)

    @translated
    def find_version(self, name: str, version: Version) -> ModelVersion:
        document = self.db.models.find_one({"name": name, "version_major": version.major,
                                            "version_minor": version.minor, **LIVE}, read())
        if document is None:
            raise refusals.version_not_found(name, version)
        return to_model(document)

    @translated
    def latest(self, name: str) -> ModelVersion:
        document = self.db.models.find_one({"name": name, **LIVE}, read(),
                                           sort=[("version_major", -1), ("version_minor", -1)])
        if document is None:
            raise refusals.name_not_found(name)
        return to_model(document)

    @translated
    def events(self, model_id: str, kinds: tuple[str, ...] | None = None) -> list[Event]:
        oid = object_id(model_id)
        if oid is None:
            return []
        condition: dict[str, Any] = {"model_id": oid}
        if kinds:
            condition["kind"] = {"$in": list(kinds)}
        return [to_event(document) for document in self.db.events.find(condition, sort=EVENT_ORDER)]

    @translated
    def name_events(self, name: str, *, kinds: tuple[str, ...] | None = None, alias: str | None = None,
                    since: datetime | None = None, until: datetime | None = None, limit: int = 1000,
                    newest_first: bool = False) -> list[Event]:
        if limit <= 0:
            return []
        conditions: list[dict[str, Any]] = [{"model_name": name}]
        if kinds:
            conditions.append({"kind": {"$in": list(kinds)}})
        if alias is not None:
            conditions.append({"kind": EventKind.ALIAS.value, "data.alias": alias})
        if since is not None:
            conditions.append({"at": {"$gte": since}})
        if until is not None:
            conditions.append({"at": {"$lte": until}})
        direction = -1 if newest_first else 1
        found = self.db.events.find({"$and": conditions}, sort=[("at", direction), ("_id", direction)], limit=limit)
        return [to_event(document) for document in found]
