"""Versions and their events in SQL: each change read under its lock, planned by the domain
(:mod:`~...domain.plans`) and written in one transaction with its events; point reads, the
search and the event log's queries."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, RowMapping, bindparam, func, insert, select, update
from sqlalchemy import delete as sql_delete

from ...domain import refusals
from ...domain.audit import AuditHook
from ...domain.models import Draft, Event, EventKind, ModelVersion
from ...domain.plans.deletions import plan_delete, releases_blob
from ...domain.plans.files import downloaded, plan_attach
from ...domain.plans.updates import plan_update
from ...domain.plans.versions import Latest, allocating, plan_version
from ...domain.ports.records import Page
from ...domain.query import SearchQuery
from ...domain.uploads import Upload
from ...domain.versions import Version
from ..fields import changed_values
from . import aliases as alias_rows
from .base import SqlBase
from .rows import file_columns, insert_events, model_row, to_event, to_model
from .schema import events, models
from .search import TOTAL, SqlSearch

# Statements on the hot paths, built once (SQLAlchemy then reuses their compiled form).
_BY_ID = select(models).where(models.c.id == bindparam("model_id"))
_LATEST_OF_NAME = (
    select(models.c.id, models.c.version_major, models.c.version_minor)
    .where(models.c.name == bindparam("name"))
    .order_by(models.c.version_major.desc(), models.c.version_minor.desc())
    .limit(1)
)
_INSERT_MODEL = insert(models)
_BY_VERSION = select(models).where(models.c.name == bindparam("name"), models.c.version_major == bindparam("major"),
                                   models.c.version_minor == bindparam("minor"))
_LATEST_ROW = (
    select(models).where(models.c.name == bindparam("name"))
    .order_by(models.c.version_major.desc(), models.c.version_minor.desc()).limit(1)
)
_FOR_UPDATE = select(models).where(models.c.id == bindparam("model_id")).with_for_update()


class SqlRecords(SqlBase):
    # ---- writes -------------------------------------------------------------------------------

    def create_version(self, draft: Draft, upload: Upload | None = None,
                       audit: AuditHook | None = None) -> ModelVersion:
        return allocating(draft.name, lambda: self._attempt(
            lambda connection: self._insert_version(connection, draft, upload), audit))

    def _insert_version(self, connection: Connection, draft: Draft, upload: Upload | None) -> ModelVersion:
        self._lock_name(connection, draft.name)
        row = connection.execute(_LATEST_OF_NAME, {"name": draft.name}).first()
        latest = None if row is None else Latest(row[0], Version(row[1], row[2]))
        plan = plan_version(draft, latest, None if upload is None else upload.accepted)
        connection.execute(_INSERT_MODEL, model_row(plan.model))
        insert_events(connection, plan.events)
        if upload is not None:
            self._commit_blob(connection, upload)
        return plan.model

    def _commit_blob(self, connection: Connection, upload: Upload) -> None:
        """The last step of a transaction that references a blob: every other statement has run,
        so only the transaction's own COMMIT can still fail after the blob is made durable."""
        self._lock_blob(connection, upload.accepted.sha256)
        upload.commit()

    def _current(self, connection: Connection, model_id: str) -> tuple[RowMapping, ModelVersion]:
        """The version's row, locked until the transaction ends; :class:`NotFound` if none."""
        row = connection.execute(_FOR_UPDATE, {"model_id": model_id}).mappings().first()
        if row is None:
            raise refusals.model_not_found(model_id)
        return row, to_model(row)

    def update(self, model_id: str, values: Mapping[str, Any], actor: str, at: datetime,
               audit: AuditHook | None = None) -> ModelVersion:
        def work(connection: Connection) -> ModelVersion:
            _, current = self._current(connection, model_id)
            plan = plan_update(current, values, actor, at)
            if plan.changes:
                connection.execute(update(models).where(models.c.id == model_id)
                                   .values(changed_values(plan.model, plan.fields)))
                insert_events(connection, plan.events)
            return plan.model
        return self._transact(work, audit)

    def attach_file(self, model_id: str, upload: Upload, actor: str,
                    audit: AuditHook | None = None) -> ModelVersion:
        def work(connection: Connection) -> ModelVersion:
            _, current = self._current(connection, model_id)
            plan = plan_attach(current, upload.accepted, actor)
            connection.execute(update(models).where(models.c.id == model_id)
                               .values(**file_columns(upload.accepted), updated_at=plan.model.updated_at))
            insert_events(connection, (plan.event,))
            self._commit_blob(connection, upload)
            return plan.model
        return self._transact(work, audit)

    def delete(self, model_id: str, release_blob: Callable[[str], None], actor: str, at: datetime,
               audit: AuditHook | None = None, *, unless_aliased: bool = False) -> ModelVersion:
        def work(connection: Connection) -> ModelVersion:
            # The row lock orders this deletion with alias moves to the version (their foreign
            # key check) on PostgreSQL: a move committed first is seen here, a later one fails.
            _, current = self._current(connection, model_id)
            plan = plan_delete(current, alias_rows.aliases_of_version(connection, model_id), actor, at,
                               unless_aliased=unless_aliased)
            for removal in plan.alias_removals:
                alias_rows.apply(connection, removal)
            connection.execute(sql_delete(models).where(models.c.id == model_id))
            insert_events(connection, (plan.event,))
            sha256 = None if current.file is None else current.file.sha256
            if sha256 is not None:
                self._lock_blob(connection, sha256)
                others = connection.execute(
                    select(func.count()).select_from(models).where(models.c.file_sha256 == sha256)).scalar_one()
                if releases_blob(sha256, others):
                    release_blob(sha256)
            return current
        return self._transact(work, audit)

    def record_download(self, model_id: str, actor: str, at: datetime, data: Mapping[str, Any]) -> None:
        def work(connection: Connection) -> None:
            name = connection.execute(
                update(models).where(models.c.id == model_id)
                .values(download_count=models.c.download_count + 1).returning(models.c.name)
            ).scalar()
            if name is not None:  # else deleted meanwhile: nothing to count
                insert_events(connection, (downloaded(model_id, name, actor, at, data),))
        self._transact(work)

    # ---- reads --------------------------------------------------------------------------------

    def get(self, model_id: str) -> ModelVersion:
        with self._read() as connection:
            row = connection.execute(_BY_ID, {"model_id": model_id}).mappings().first()
        if row is None:
            raise refusals.model_not_found(model_id)
        return to_model(row)

    def search(self, query: SearchQuery) -> Page:
        statements = SqlSearch(self.dialect)
        along_metric = statements.page_along_metric(query)
        with self._read(snapshot=True) as connection:
            rows = [] if along_metric is None else connection.execute(along_metric).mappings().all()
            if len(rows) < query.limit:  # not applicable, or the end of the versions that have the metric
                rows = connection.execute(statements.page(query)).mappings().all()
            total = rows[0][TOTAL] if rows else connection.execute(statements.count(query)).scalar_one()
        return Page([to_model(row) for row in rows], int(total))

    def find_version(self, name: str, version: Version) -> ModelVersion:
        with self._read() as connection:
            row = connection.execute(_BY_VERSION, {"name": name, "major": version.major,
                                                   "minor": version.minor}).mappings().first()
        if row is None:
            raise refusals.version_not_found(name, version)
        return to_model(row)

    def latest(self, name: str) -> ModelVersion:
        with self._read() as connection:
            row = connection.execute(_LATEST_ROW, {"name": name}).mappings().first()
        if row is None:
            raise refusals.name_not_found(name)
        return to_model(row)

    def events(self, model_id: str, kinds: tuple[str, ...] | None = None) -> list[Event]:
        query = select(events).where(events.c.model_id == model_id).order_by(events.c.id)
        if kinds:
            query = query.where(events.c.kind.in_(kinds))
        with self._read() as connection:
            rows = connection.execute(query).mappings().all()
        return [to_event(row) for row in rows]

    def name_events(self, name: str, *, kinds: tuple[str, ...] | None = None, alias: str | None = None,
                    since: datetime | None = None, until: datetime | None = None, limit: int = 1000,
                    newest_first: bool = False) -> list[Event]:
        query = select(events).where(events.c.model_name == name)
        if kinds:
            query = query.where(events.c.kind.in_(kinds))
        if alias is not None:
            query = query.where(events.c.kind == EventKind.ALIAS.value,
                                events.c.data["alias"].as_string() == alias)
        if since is not None:
            query = query.where(events.c.at >= since)
        if until is not None:
            query = query.where(events.c.at <= until)
        order = (events.c.at.desc(), events.c.id.desc()) if newest_first else (events.c.at, events.c.id)
        query = query.order_by(*order).limit(limit)
        with self._read() as connection:
            return [to_event(row) for row in connection.execute(query).mappings().all()]
