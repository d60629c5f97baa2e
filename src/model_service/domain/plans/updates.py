"""A change of a version's mutable fields: what changes, and the events that record it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, TypeVar

from .. import refusals
from ..models import Event, EventKind, ModelVersion, Status
from .retry import CHANGE_ATTEMPTS, retrying

T = TypeVar("T")

DERIVED = {"metrics": ("accuracy",)}
"""Stored values derived from a field (:attr:`~..models.ModelVersion.accuracy` from the metrics),
written again whenever that field changes."""


@dataclass(frozen=True, slots=True)
class Update:
    """The version after the change, the stored fields that change (derived ones and
    ``updated_at`` included; empty when nothing does) and the events: a ``status`` event
    ``{"from", "to"}`` for a new status, then one ``updated`` event ``{"fields": [...]}`` naming
    the other fields that changed."""

    model: ModelVersion
    fields: tuple[str, ...]
    events: tuple[Event, ...]

    @property
    def changes(self) -> bool:
        return bool(self.fields)


def plan_update(current: ModelVersion, values: Mapping[str, Any], actor: str, at: datetime) -> Update:
    """Apply ``values`` (validated by the registry: ``status`` a :class:`~..models.Status`,
    ``tags`` a tuple, ``metrics`` a dict, ``description`` text) to ``current``. A value equal to
    the current one changes nothing and is not recorded."""
    changed: dict[str, Any] = {}
    events: list[Event] = []
    edited: list[str] = []
    for key, value in values.items():
        if key == "status":
            status = Status(value)
            if status != current.status:
                changed["status"] = status
                events.append(Event(model_id=current.id, model_name=current.name, kind=EventKind.STATUS,
                                    actor=actor, at=at, data={"from": current.status.value, "to": status.value}))
        elif key == "tags":
            if tuple(value) != current.tags:
                changed["tags"] = tuple(value)
                edited.append(key)
        elif getattr(current, key) != value:
            changed[key] = value
            edited.append(key)
    if edited:
        events.append(Event(model_id=current.id, model_name=current.name, kind=EventKind.UPDATED, actor=actor, at=at,
                            data={"fields": edited}))
    if not changed:
        return Update(current, (), ())
    fields = [*changed, *(derived for key in changed for derived in DERIVED.get(key, ())), "updated_at"]
    return Update(replace(current, **changed, updated_at=at), tuple(fields), tuple(events))


def changing(model_id: str, attempt: Callable[[], T]) -> T:
    """Run a store's read-plan-write ``attempt`` on one version until no other change slips in between."""
    return retrying(attempt, attempts=CHANGE_ATTEMPTS, exhausted=lambda: refusals.update_conflict(model_id))
