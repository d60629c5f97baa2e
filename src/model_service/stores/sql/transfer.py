"""Records in and out of the SQL store as they are, for ``model-service migrate``.

A record (one model id: its version row, if it still exists, and its events) is written in one
transaction, or not at all when any part of it is already here: that is what makes a copy safe
to run again after an interruption. The search tables follow the version row by their triggers.
"""

from __future__ import annotations

from sqlalchemy import Connection, exists, insert, literal, select, union

from ...domain.errors import Conflict, NotFound
from ...domain.models import Alias
from ...domain.naming import accuracy_of
from ...domain.ports import ModelRecord
from .rows import file_columns, to_event, to_model
from .schema import aliases, events, models


def model_ids(connection: Connection, after: str | None, limit: int) -> list[str]:
    """Ids of versions and of events' versions, ascending: both come off their indexes in order."""
    versions = select(models.c.id.label("model_id"))
    logged = select(events.c.model_id).distinct()
    if after is not None:
        versions = versions.where(models.c.id > after)
        logged = logged.where(events.c.model_id > after)
    ids = union(versions, logged).subquery()
    return list(connection.execute(select(ids.c.model_id).order_by(ids.c.model_id).limit(limit)).scalars())


def export_record(connection: Connection, model_id: str) -> ModelRecord:
    row = connection.execute(select(models).where(models.c.id == model_id)).mappings().first()
    rows = connection.execute(select(events).where(events.c.model_id == model_id).order_by(events.c.id)).mappings()
    return ModelRecord(model_id, None if row is None else to_model(row), [to_event(event) for event in rows])


def import_record(connection: Connection, record: ModelRecord) -> bool:
    """Inside the caller's write transaction (see ``MetadataStore.import_record``)."""
    held = connection.execute(select(
        exists().where(models.c.id == record.model_id),
        exists().where(events.c.model_id == record.model_id),
    )).one()
    if any(held):
        return False
    model = record.model
    if model is not None:
        clash = connection.execute(
            select(models.c.id).where(models.c.name == model.name, models.c.version_major == model.version.major,
                                      models.c.version_minor == model.version.minor)
        ).scalar()
        if clash is not None:
            raise Conflict(f"'{model.name}' {model.version} is already another version here ({clash})",
                           code="version_exists",
                           details={"model_id": model.id, "name": model.name, "version": str(model.version),
                                    "existing_model_id": clash})
        connection.execute(insert(models), {
            "id": model.id,
            "name": model.name,
            "version_major": model.version.major,
            "version_minor": model.version.minor,
            "algorithm": model.algorithm,
            "hyperparameters": model.hyperparameters,
            "metrics": model.metrics,
            "dataset_info": model.dataset_info,
            "tags": list(model.tags),
            "description": model.description,
            "created_by": model.created_by,
            "status": model.status.value,
            "parent_model_id": model.parent_model_id,
            "format": model.format,
            "created_at": model.created_at,
            "updated_at": model.updated_at,
            "download_count": model.download_count,
            "accuracy": accuracy_of(model.metrics),
            **file_columns(model.file),
        })
    if record.events:
        connection.execute(insert(events), [
            {"model_id": event.model_id, "model_name": event.model_name, "kind": event.kind.value,
             "actor": event.actor, "at": event.at, "data": dict(event.data)}
            for event in record.events
        ])
    return True


def import_alias(connection: Connection, alias: Alias) -> bool:
    if connection.execute(select(literal(1)).where(aliases.c.name == alias.name,
                                                   aliases.c.alias == alias.alias)).first() is not None:
        return False
    found = connection.execute(select(models.c.name).where(models.c.id == alias.model_id)).scalar()
    if found is None:
        raise NotFound(f"{alias.name}@{alias.alias} points at {alias.model_id}, which is not here",
                       code="model_not_found", details={"model_id": alias.model_id})
    connection.execute(insert(aliases), {"name": alias.name, "alias": alias.alias, "model_id": alias.model_id,
                                         "updated_at": alias.updated_at, "updated_by": alias.updated_by})
    return True
