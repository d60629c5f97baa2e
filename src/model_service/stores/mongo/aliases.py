"""Aliases in MongoDB: reads, compare-and-swap moves and their events.

Each ``name@alias`` ever set is one document ``{name, alias, model_id, version_major,
version_minor, updated_at, updated_by, rev, outbox}``; removing the alias sets ``model_id`` to
null, so the document (and its revision counter) stays. A move reads the document, checks the
caller's expectation and the target, then writes conditionally on the revision it read
(``rev``), putting the ``alias`` event in the document's outbox in the same write: two moves
can never both apply to one state, and a move that lost the race re-reads and re-checks (a
stale expectation is then :class:`Conflict`).

A version being deleted loses its aliases (``remove_for_version``); a move that targeted it
while the deletion ran checks again after writing and takes the alias back off, so no alias is
ever left pointing at a deleted version.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from ...domain.errors import Conflict, Invalid, NotFound
from ...domain.models import Alias, AliasMove, EventKind
from ...domain.ports import ANY
from ...domain.versions import Version
from .documents import event_document, object_id, stamp, to_alias, utc
from .outbox import publish, pushed
from .schema import LIVE, Collections

MOVE_ATTEMPTS = 100
SET = {"model_id": {"$ne": None}}


def aliases_of(db: Collections, name: str) -> list[Alias]:
    return [to_alias(doc) for doc in db.aliases.find({"name": name, **SET}, sort=[("alias", 1)])]


def find_alias(db: Collections, name: str, alias: str) -> Alias | None:
    document = db.aliases.find_one({"name": name, "alias": alias, **SET})
    return None if document is None else to_alias(document)


def all_aliases(db: Collections) -> list[Alias]:
    return [to_alias(doc) for doc in db.aliases.find(SET, sort=[("name", 1), ("alias", 1)])]


def _describe(expected: Any) -> str:
    return "not set" if expected is None else f"at {expected}"


def _target(db: Collections, name: str, model_id: str) -> tuple[ObjectId, Version]:
    oid = object_id(model_id)
    target = None if oid is None else db.models.find_one(
        {"_id": oid, **LIVE}, {"name": 1, "version_major": 1, "version_minor": 1})
    if target is None:
        raise NotFound(f"Model {model_id} not found", code="model_not_found", details={"model_id": model_id})
    if target["name"] != name:
        raise Invalid(f"Model {model_id} is a version of '{target['name']}', not of '{name}'",
                      code="invalid_alias_target", details={"model_id": model_id, "name": target["name"]})
    return oid, Version(target["version_major"], target["version_minor"])


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


def move(db: Collections, name: str, alias: str, model_id: str | None, expected: Any, actor: str,
         at: datetime) -> AliasMove:
    """See ``MetadataStore.move_alias``."""
    for _attempt in range(MOVE_ATTEMPTS):
        current = db.aliases.find_one({"name": name, "alias": alias})
        before = None if current is None or current.get("model_id") is None else to_alias(current)
        when = stamp(at)
        if current is not None and utc(current["updated_at"]) > when:
            # the alias's history stays in order even if this caller's clock is behind the last mover's
            when = utc(current["updated_at"])
        if expected is not ANY:
            version = None if before is None else before.version
            if version != expected:
                raise Conflict(
                    f"{name}@{alias} is {_describe(version)}, not {_describe(expected)} as expected",
                    code="alias_conflict",
                    details={"name": name, "alias": alias,
                             "current_version": None if version is None else str(version),
                             "expected_version": None if expected is None else str(expected)},
                )
        if model_id is None:
            if before is None:
                raise NotFound(f"{name}@{alias} is not set", code="alias_not_found",
                               details={"name": name, "alias": alias})
            oid, version, after = None, None, None
        else:
            oid, version = _target(db, name, model_id)
            after = Alias(name, alias, model_id, version, when, actor)
        event = None
        if before is None or after is None or before.model_id != after.model_id:
            event = event_document(EventKind.ALIAS, actor, when, {
                "alias": alias,
                "from_version": None if before is None else str(before.version),
                "to_version": None if after is None else str(after.version),
                "from_model_id": None if before is None else before.model_id,
                "to_model_id": None if after is None else after.model_id,
            }, model_id=ObjectId((after or before).model_id), model_name=name)
        fields = {"model_id": oid, "version_major": None if version is None else version.major,
                  "version_minor": None if version is None else version.minor, "updated_at": when,
                  "updated_by": actor}
        if not _write(db, current, name, alias, fields, event):
            continue  # moved meanwhile: read it again
        if oid is not None and db.models.count_documents({"_id": oid, **LIVE}, limit=1) == 0:
            remove_for_version(db, oid, actor, when)  # its version was deleted while this move ran
            raise NotFound(f"Model {model_id} not found", code="model_not_found", details={"model_id": model_id})
        return AliasMove(name, alias, before, after)
    raise Conflict(f"{name}@{alias} is being moved concurrently; try again", code="alias_conflict",
                   details={"name": name, "alias": alias})


def remove_for_version(db: Collections, oid: ObjectId, actor: str, at: datetime) -> None:
    """Remove (each with its event) the aliases pointing at a version that is being deleted."""
    for document in db.aliases.find({"model_id": oid}):
        version = Version(document["version_major"], document["version_minor"])
        try:  # only if it still points there: expecting that version is a compare-and-swap
            move(db, document["name"], document["alias"], None, version, actor, at)
        except (Conflict, NotFound):
            pass  # moved or removed meanwhile


def import_alias(db: Collections, alias: Alias) -> bool:
    """See ``MetadataStore.import_alias``: set as it is, without an event."""
    for _attempt in range(MOVE_ATTEMPTS):
        current = db.aliases.find_one({"name": alias.name, "alias": alias.alias})
        if current is not None and current.get("model_id") is not None:
            return False
        try:
            oid, version = _target(db, alias.name, alias.model_id)
        except NotFound:
            raise NotFound(f"{alias.name}@{alias.alias} points at {alias.model_id}, which is not here",
                           code="model_not_found", details={"model_id": alias.model_id}) from None
        fields = {"model_id": oid, "version_major": version.major, "version_minor": version.minor,
                  "updated_at": stamp(alias.updated_at), "updated_by": alias.updated_by}
        if _write(db, current, alias.name, alias.alias, fields, None):
            return True
    return False
