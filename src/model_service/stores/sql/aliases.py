"""Aliases in SQL: read, compare-and-swap moves, and their events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from ...domain.errors import Conflict, Invalid, NotFound
from ...domain.models import Alias, AliasMove, EventKind
from ...domain.ports import ANY
from ...domain.versions import Version
from .rows import append_event
from .schema import aliases, models

_ALIAS_ROWS = select(
    aliases.c.name, aliases.c.alias, aliases.c.model_id, aliases.c.updated_at, aliases.c.updated_by,
    models.c.version_major, models.c.version_minor,
).join(models, models.c.id == aliases.c.model_id)


def _to_alias(row: Any) -> Alias:
    return Alias(name=row.name, alias=row.alias, model_id=row.model_id,
                 version=Version(row.version_major, row.version_minor),
                 updated_at=row.updated_at, updated_by=row.updated_by)


def aliases_of(connection: Connection, name: str) -> list[Alias]:
    rows = connection.execute(_ALIAS_ROWS.where(aliases.c.name == name).order_by(aliases.c.alias))
    return [_to_alias(row) for row in rows]


def find_alias(connection: Connection, name: str, alias: str, *, for_update: bool = False) -> Alias | None:
    """The alias, or None. ``for_update`` first locks the alias row on its own and reads the
    version in a second statement: a locking read joined to ``models`` would, after waiting for
    a concurrent move (PostgreSQL, READ COMMITTED), recheck the moved alias row against the
    previously joined version row, find no match and report the alias as not set."""
    where = (aliases.c.name == name, aliases.c.alias == alias)
    if for_update and connection.execute(select(aliases.c.model_id).where(*where).with_for_update()).first() is None:
        return None
    row = connection.execute(_ALIAS_ROWS.where(*where)).first()
    return None if row is None else _to_alias(row)


def _describe(expected: Any) -> str:
    return "not set" if expected is None else f"at {expected}"


def move(connection: Connection, name: str, alias: str, model_id: str | None, expected: Any, actor: str,
         at: datetime) -> AliasMove:
    """One alias change inside the caller's transaction (see ``MetadataStore.move_alias``)."""
    before = find_alias(connection, name, alias, for_update=True)
    if before is not None and before.updated_at > at:
        # moves of one alias are serialised by its row lock; a move whose clock reading was taken
        # before the previous move committed still follows it in the alias's history
        at = before.updated_at
    if expected is not ANY:
        current = None if before is None else before.version
        if current != expected:
            raise Conflict(
                f"{name}@{alias} is {_describe(current)}, not {_describe(expected)} as expected",
                code="alias_conflict",
                details={"name": name, "alias": alias, "current_version": None if current is None else str(current),
                         "expected_version": None if expected is None else str(expected)},
            )
    if model_id is None:
        if before is None:
            raise NotFound(f"{name}@{alias} is not set", code="alias_not_found", details={"name": name, "alias": alias})
        connection.execute(delete(aliases).where(aliases.c.name == name, aliases.c.alias == alias))
        after = None
    else:
        target = connection.execute(
            select(models.c.name, models.c.version_major, models.c.version_minor).where(models.c.id == model_id)
        ).first()
        if target is None:
            raise NotFound(f"Model {model_id} not found", code="model_not_found", details={"model_id": model_id})
        if target.name != name:
            raise Invalid(f"Model {model_id} is a version of '{target.name}', not of '{name}'",
                          code="invalid_alias_target", details={"model_id": model_id, "name": target.name})
        values = {"model_id": model_id, "updated_at": at, "updated_by": actor}
        if before is None:
            connection.execute(insert(aliases).values(name=name, alias=alias, **values))
        else:
            connection.execute(update(aliases).where(aliases.c.name == name, aliases.c.alias == alias).values(values))
        after = Alias(name, alias, model_id, Version(target.version_major, target.version_minor), at, actor)
    if before is not None and after is not None and before.model_id == after.model_id:
        return AliasMove(name, alias, before, after)  # already there: nothing to record
    append_event(connection, (after or before).model_id, name, EventKind.ALIAS, actor, at, {
        "alias": alias,
        "from_version": None if before is None else str(before.version),
        "to_version": None if after is None else str(after.version),
        "from_model_id": None if before is None else before.model_id,
        "to_model_id": None if after is None else after.model_id,
    })
    return AliasMove(name, alias, before, after)


def remove_for_version(connection: Connection, model_id: str, name: str, actor: str, at: datetime) -> None:
    """Before a version is deleted: remove the aliases that point at it, each recorded."""
    for row in connection.execute(select(aliases.c.alias).where(aliases.c.model_id == model_id)).all():
        move(connection, name, row.alias, None, ANY, actor, at)


def all_aliases(connection: Connection) -> list[Alias]:
    """Every alias of every name, by name then alias."""
    return [_to_alias(row) for row in connection.execute(_ALIAS_ROWS.order_by(aliases.c.name, aliases.c.alias))]
