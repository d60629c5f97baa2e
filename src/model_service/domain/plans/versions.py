"""A new version: its number, its parent, its record and the events it starts its history with."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from .. import refusals
from ..models import LATEST, Draft, Event, EventKind, FileInfo, ModelVersion
from ..versions import Version, following
from .files import uploaded
from .retry import VERSION_ATTEMPTS, retrying

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Latest:
    """What a store reads of a name's highest version before inserting the next one."""

    model_id: str
    version: Version


@dataclass(frozen=True, slots=True)
class NewVersion:
    """The version to insert (with its file, when it comes with one) and its first events:
    ``created``, then ``uploaded`` for the file."""

    model: ModelVersion
    events: tuple[Event, ...]


def plan_version(draft: Draft, latest: Latest | None, file: FileInfo | None = None) -> NewVersion:
    """``draft`` as the version after ``latest`` (:func:`~..versions.following`; the first of
    its name when None). A parent of :data:`~..models.LATEST` becomes that latest version."""
    version = following(None if latest is None else latest.version, breaking=draft.breaking)
    parent = (None if latest is None else latest.model_id) if draft.parent_model_id == LATEST \
        else draft.parent_model_id
    model = ModelVersion(
        id=draft.id, name=draft.name, version=version, algorithm=draft.algorithm,
        hyperparameters=draft.hyperparameters, metrics=draft.metrics, dataset_info=draft.dataset_info,
        tags=draft.tags, description=draft.description, created_by=draft.created_by, status=draft.status,
        parent_model_id=parent, format=draft.format, file=file, created_at=draft.created_at,
        updated_at=draft.created_at, download_count=0,
    )
    created = Event(model_id=model.id, model_name=model.name, kind=EventKind.CREATED, actor=draft.created_by,
                    at=draft.created_at, data={"version": str(version), "parent_model_id": parent})
    if file is None:
        return NewVersion(model, (created,))
    return NewVersion(model, (created, uploaded(model, file, draft.created_by)))


def allocating(name: str, attempt: Callable[[], T]) -> T:
    """Run a store's read-plan-insert ``attempt`` until its number is not taken meanwhile."""
    return retrying(attempt, attempts=VERSION_ATTEMPTS,
                    exhausted=lambda: refusals.version_conflict(name, VERSION_ATTEMPTS))
