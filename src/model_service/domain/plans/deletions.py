"""Deleting a version: what may stop it, what goes with it, and what its history records."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from ..errors import Conflict
from ..models import Alias, Event, EventKind, ModelVersion
from .aliases import AliasChange, plan_alias_move


@dataclass(frozen=True, slots=True)
class Deletion:
    """The version as it was, the removal of each alias pointing at it (each with its event),
    then the ``deleted`` event ``{"version"}``, in the order the history reads them."""

    model: ModelVersion
    alias_removals: tuple[AliasChange, ...]
    event: Event


def refuse_if_aliased(model_id: str, what: str, held: Sequence[str]) -> None:
    """For a deletion ``unless_aliased`` (retention): :class:`Conflict` ``version_aliased`` if
    the aliases ``held`` point at the version (``what``: its name and number, as people read it)."""
    if held:
        names = sorted(held)
        raise Conflict(f"{what} is kept: alias {', '.join(names)} points at it", code="version_aliased",
                       details={"model_id": model_id, "aliases": names})


def deleted(model_id: str, name: str, version: str, actor: str, at: datetime) -> Event:
    return Event(model_id=model_id, model_name=name, kind=EventKind.DELETED, actor=actor, at=at,
                 data={"version": version})


def plan_delete(model: ModelVersion, aliases: Sequence[Alias], actor: str, at: datetime, *,
                unless_aliased: bool = False) -> Deletion:
    """Delete ``model``, which ``aliases`` point at (as the store read them under its lock)."""
    if unless_aliased:
        refuse_if_aliased(model.id, f"{model.name} {model.version}", [alias.alias for alias in aliases])
    removals = tuple(plan_alias_move(alias.name, alias.alias, alias, None, None, alias.version, actor, at)
                     for alias in aliases)
    return Deletion(model, removals, deleted(model.id, model.name, str(model.version), actor, at))


def releases_blob(sha256: str | None, other_references: int) -> bool:
    """Whether a deleted version's blob goes with it: it had a file, and no other version refers to it."""
    return sha256 is not None and other_references == 0
