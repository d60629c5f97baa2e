"""Aliases in MongoDB: reads, and compare-and-swap moves with their events.

Each ``name@alias`` ever set is one document ``{name, alias, model_id, version_major,
version_minor, updated_at, updated_by, rev, outbox}``; removing the alias sets ``model_id`` to
null, so the document (and its revision counter) stays. A move reads the document and the
target, lets :func:`~...domain.plans.aliases.plan_alias_move` decide, then writes conditionally
on the revision it read (``rev``), putting the ``alias`` event in the document's outbox in the
same write: two moves can never both apply to one state, and a move that lost the race reads
and plans again (a stale expectation is then :class:`Conflict`).

A version being deleted loses its aliases (``remove_for_version``); a move that targeted it
while the deletion ran checks again after writing and takes the alias back off, so no alias is
ever left pointing at a deleted version.
"""

from __future__ import annotations

from contextlib import suppress
from datetime import datetime
from functools import partial
from typing import Any

from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from ...domain import refusals
from ...domain.audit import AuditHook
from ...domain.errors import Conflict, NotFound
from ...domain.models import Alias, AliasMove
from ...domain.plans.aliases import AliasChange, Expected, Target, moving, plan_alias_move
from ...domain.plans.retry import ALIAS_ATTEMPTS, Contended
from ...domain.versions import Version
from .base import MongoBase
from .documents import event_document, object_id, stamp, to_alias
from .errors import translated
from .outbox import publish, pushed
from .schema import LIVE, Collections

SET = {"model_id": {"$ne": None}}


def aliases_of(db: Collections, name: str) -> list[Alias]:
    return [to_alias(doc) for doc in db.aliases.find({"name": name, **SET}, sort=[("alias", 1)])]


def find_alias(db: Collections, name: str, alias: str) -> Alias | None:
    document = db.aliases.find_one({"name": name, "alias": alias, **SET})
    return None if document is None else to_alias(document)


def all_aliases(db: Collections) -> list[Alias]:
    return [to_alias(doc) for doc in db.aliases.find(SET, sort=[("name", 1), ("alias", 1)])]


def target(db: Collections, model_id: str) -> Target | None:
    oid = object_id(model_id)
    found = None if oid is None else db.models.find_one(
        {"_id": oid, **LIVE}, {"name": 1, "version_major": 1, "version_minor": 1})
    return None if found is None else Target(model_id, found["name"],
                                             Version(found["version_major"], found["version_minor"]))


def _fields(after: Alias | None, when: datetime, actor: str) -> dict[str, Any]:
    return {"model_id": None if after is None else ObjectId(after.model_id),
            "version_major": None if after is None else after.version.major,
            "version_minor": None if after is None else after.version.minor,
            "updated_at": stamp(when), "updated_by": actor}


def _write(db: Collections, current: dict[str, Any] | None, name: str, alias: str, fields: dict[str, Any],
           event: dict[str, Any] | None) -> bool:
    """Apply ``fields`` if the alias is still as read (``current``); False if it changed meanwhile."""
    outbox = [] if event is None else [event]
    if current is None:
        try:
            holder = db.aliases.insert_one({"name": name, "alias": alias, **fields, "rev": 1,
                                            "outbox": outbox}).inserted_id
        except DuplicateKeyError:
            return False
    else:
        holder = current["_id"]
        update: dict[str, Any] = {"$set": fields, "$inc": {"rev": 1}}
        if outbox:
            update["$push"] = pushed(outbox)
        if db.aliases.update_one({"_id": holder, "rev": current.get("rev")}, update).matched_count == 0:
            return False
    publish(db.events, db.aliases, holder, outbox)
    return True


def _apply(db: Collections, current: dict[str, Any] | None, change: AliasChange, actor: str) -> bool:
    move = change.move
    when = move.after.updated_at if move.after is not None else change.event.at if change.event else None
    assert when is not None  # a removal always has its event
    event = None if change.event is None else event_document(change.event)
    return _write(db, current, move.name, move.alias, _fields(move.after, when, actor), event)


def move(db: Collections, name: str, alias: str, model_id: str | None, expected: Expected, actor: str,
         at: datetime) -> AliasMove:
    """One attempt of a move (see ``MetadataStore.move_alias``): :class:`Contended` if the
    alias moved between the read and the write."""
    current = db.aliases.find_one({"name": name, "alias": alias})
    before = None if current is None or current.get("model_id") is None else to_alias(current)
    found = None if model_id is None else target(db, model_id)
    change = plan_alias_move(name, alias, before, model_id, found, expected, actor, stamp(at))
    if not _apply(db, current, change, actor):
        raise Contended()
    if found is not None and db.models.count_documents({"_id": ObjectId(found.model_id), **LIVE}, limit=1) == 0:
        remove_for_version(db, ObjectId(found.model_id), actor, at)  # its version was deleted while this move ran
        raise refusals.model_not_found(found.model_id)
    return change.move


def remove_for_version(db: Collections, oid: ObjectId, actor: str, at: datetime) -> None:
    """Remove (each with its event) the aliases pointing at a version that is being deleted."""
    for document in db.aliases.find({"model_id": oid}):
        name, alias = document["name"], document["alias"]
        version = Version(document["version_major"], document["version_minor"])
        # only if it still points there: expecting that version is a compare-and-swap
        with suppress(Conflict, NotFound):  # moved or removed meanwhile
            moving(name, alias, partial(move, db, name, alias, None, version, actor, at))


def import_alias(db: Collections, alias: Alias) -> bool:
    """See ``MetadataStore.import_alias``: set as it is, without an event."""
    for _attempt in range(ALIAS_ATTEMPTS):
        current = db.aliases.find_one({"name": alias.name, "alias": alias.alias})
        if current is not None and current.get("model_id") is not None:
            return False
        found = target(db, alias.model_id)
        if found is None:
            raise refusals.alias_target_missing(alias.name, alias.alias, alias.model_id)
        if found.name != alias.name:
            raise refusals.invalid_alias_target(alias.model_id, alias.name, found.name)
        after = Alias(alias.name, alias.alias, alias.model_id, found.version, alias.updated_at, alias.updated_by)
        if _write(db, current, alias.name, alias.alias, _fields(after, alias.updated_at, alias.updated_by), None):
            return True
    return False


class MongoAliases(MongoBase):
    @translated
    def aliases(self, name: str) -> list[Alias]:
        return aliases_of(self.db, name)

    @translated
    def get_alias(self, name: str, alias: str) -> Alias:
        found = find_alias(self.db, name, alias)
        if found is None:
            raise refusals.alias_not_found(name, alias)
        return found

    @translated
    def move_alias(self, name: str, alias: str, model_id: str | None, expected: Expected, actor: str,
                   at: datetime, audit: AuditHook | None = None) -> AliasMove:
        return self._audited(audit, moving(name, alias, lambda: move(self.db, name, alias, model_id, expected,
                                                                     actor, at)))
