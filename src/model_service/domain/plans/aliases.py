"""Alias moves: a compare-and-swap on where ``name@alias`` points, and the event that records it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from .. import refusals
from ..errors import Conflict
from ..models import Alias, AliasMove, Event, EventKind
from ..versions import Version
from .retry import ALIAS_ATTEMPTS, retrying

T = TypeVar("T")


class _Any:
    """The type of :data:`ANY`."""

    def __repr__(self) -> str:
        return "ANY"


ANY = _Any()
"""The ``expected`` of a move that checks nothing (no compare-and-swap)."""

Expected = Version | None | _Any
"""What a move expects the alias to point at now: a version, ``None`` (not set), or :data:`ANY`."""


@dataclass(frozen=True, slots=True)
class Target:
    """What a store reads of the version an alias is to point at."""

    model_id: str
    name: str
    version: Version


@dataclass(frozen=True, slots=True)
class AliasChange:
    """The move (``after.updated_at`` is when it takes effect) and its ``alias`` event; no event
    when the alias already pointed at that version (only who set it and when are new)."""

    move: AliasMove
    event: Event | None


def _describe(version: Version | None) -> str:
    return "not set" if version is None else f"at {version}"


def plan_alias_move(name: str, alias: str, before: Alias | None, model_id: str | None, target: Target | None,
                    expected: Expected, actor: str, at: datetime) -> AliasChange:
    """Point ``name@alias`` (now ``before``; None: not set) at ``model_id``, or remove it (None).

    ``target`` is the version ``model_id`` names as the store found it (None: there is none).
    Refusals, in this order: ``alias_conflict`` if ``expected`` is not where the alias points;
    ``alias_not_found`` to remove an alias that is not set; ``model_not_found`` for a target
    that does not exist; ``invalid_alias_target`` for a version of another name. Moves of one
    alias are serialised by the store, and a move whose clock reading was taken before the
    previous move committed still follows it in the alias's history: it takes effect at the
    later of the two times.
    """
    when = at if before is None or before.updated_at <= at else before.updated_at
    if not isinstance(expected, _Any):
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
            raise refusals.alias_not_found(name, alias)
        after = None
    else:
        if target is None:
            raise refusals.model_not_found(model_id)
        if target.name != name:
            raise refusals.invalid_alias_target(model_id, name, target.name)
        after = Alias(name, alias, model_id, target.version, when, actor)
    move = AliasMove(name, alias, before, after)
    if before is not None and after is not None and before.model_id == after.model_id:
        return AliasChange(move, None)
    held = after or before
    assert held is not None  # one of them is set: removing an unset alias was refused above
    return AliasChange(move, Event(model_id=held.model_id, model_name=name, kind=EventKind.ALIAS, actor=actor,
                                   at=when, data={
                                       "alias": alias,
                                       "from_version": None if before is None else str(before.version),
                                       "to_version": None if after is None else str(after.version),
                                       "from_model_id": None if before is None else before.model_id,
                                       "to_model_id": None if after is None else after.model_id,
                                   }))


def moving(name: str, alias: str, attempt: Callable[[], T]) -> T:
    """Run a store's read-plan-swap ``attempt`` until no other move of the alias slips in between."""
    return retrying(attempt, attempts=ALIAS_ATTEMPTS, exhausted=lambda: refusals.alias_contended(name, alias))
