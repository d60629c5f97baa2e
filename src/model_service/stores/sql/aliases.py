"""Aliases in SQL: reads, and compare-and-swap moves applied with their events.

A move locks the alias's row (when it exists), reads where it points and the target version,
lets :func:`~...domain.plans.aliases.plan_alias_move` decide, and writes the plan in the same
transaction. Two first settings of one alias at once collide on the (name, alias) key: the
loser plans again from a fresh read.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from ...domain import refusals
from ...domain.audit import AuditHook
from ...domain.models import Alias, AliasMove
from ...domain.plans.aliases import AliasChange, Expected, Target, moving, plan_alias_move
from ...domain.plans.retry import Contended
from ...domain.versions import Version
from .base import SqlBase
from .rows import insert_events
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


def aliases_of_version(connection: Connection, model_id: str) -> list[Alias]:
    rows = connection.execute(_ALIAS_ROWS.where(aliases.c.model_id == model_id).order_by(aliases.c.alias))
    return [_to_alias(row) for row in rows]


def all_aliases(connection: Connection) -> list[Alias]:
    """Every alias of every name, by name then alias."""
    return [_to_alias(row) for row in connection.execute(_ALIAS_ROWS.order_by(aliases.c.name, aliases.c.alias))]


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


def target(connection: Connection, model_id: str) -> Target | None:
    row = connection.execute(
        select(models.c.name, models.c.version_major, models.c.version_minor).where(models.c.id == model_id)
    ).first()
    return None if row is None else Target(model_id, row.name, Version(row.version_major, row.version_minor))


def apply(connection: Connection, change: AliasChange) -> bool:
    """Write a planned move and its event, inside the caller's transaction, if the alias still
    points where the plan read it (False, writing nothing, if it was moved meanwhile)."""
    move = change.move
    where = [aliases.c.name == move.name, aliases.c.alias == move.alias]
    if move.before is not None:
        where.append(aliases.c.model_id == move.before.model_id)
    if move.after is None:
        applied = connection.execute(delete(aliases).where(*where)).rowcount > 0
    else:
        values = {"model_id": move.after.model_id, "updated_at": move.after.updated_at,
                  "updated_by": move.after.updated_by}
        if move.before is None:
            connection.execute(insert(aliases).values(name=move.name, alias=move.alias, **values))
            applied = True
        else:
            applied = connection.execute(update(aliases).where(*where).values(values)).rowcount > 0
    if applied:
        insert_events(connection, () if change.event is None else (change.event,))
    return applied


def move(connection: Connection, name: str, alias: str, model_id: str | None, expected: Expected, actor: str,
         at: datetime) -> AliasMove:
    """One alias change inside the caller's transaction (see ``MetadataStore.move_alias``)."""
    before = find_alias(connection, name, alias, for_update=True)
    found = None if model_id is None else target(connection, model_id)
    change = plan_alias_move(name, alias, before, model_id, found, expected, actor, at)
    if not apply(connection, change):  # the row is locked: only a move that began first could change it
        raise Contended()
    return change.move


class SqlAliases(SqlBase):
    def aliases(self, name: str) -> list[Alias]:
        with self._read() as connection:
            return aliases_of(connection, name)

    def get_alias(self, name: str, alias: str) -> Alias:
        with self._read() as connection:
            found = find_alias(connection, name, alias)
        if found is None:
            raise refusals.alias_not_found(name, alias)
        return found

    def move_alias(self, name: str, alias: str, model_id: str | None, expected: Expected, actor: str,
                   at: datetime, audit: AuditHook | None = None) -> AliasMove:
        return moving(name, alias, lambda: self._attempt(
            lambda connection: move(connection, name, alias, model_id, expected, actor, at), audit))
