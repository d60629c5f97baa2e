"""The SQL store's upkeep: start-up (schema revisions) and health, blob references for gc and
fsck, and records copied in and out as they are (``model-service migrate``, export, import).

A copied record (one model id: its version row, if it still exists, and its events) is written
in one transaction, or not at all when any part of it is already here: that is what makes a
copy safe to run again after an interruption. The search tables follow the version row by their
triggers.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import Connection, and_, exists, func, insert, literal, or_, select, text, union
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from ...domain import refusals
from ...domain.errors import Unavailable
from ...domain.models import Alias, Status
from ...domain.ports.health import Health
from ...domain.ports.maintenance import FileReference, ModelRecord
from ...domain.versions import Version
from . import aliases as alias_rows
from . import migrate as migrations
from . import schema
from .base import SqlBase, unavailable
from .rows import event_row, model_row, to_event, to_model
from .schema import aliases, events, models

_REFERENCE_COLUMNS = (models.c.file_sha256, models.c.id, models.c.name, models.c.version_major,
                      models.c.version_minor, models.c.file_size, models.c.status)


# ---- blob references ------------------------------------------------------------------------------


def _file_references(connection: Connection, after: tuple[str, str] | None, limit: int) -> list[FileReference]:
    """Served by the (file_sha256, …) index."""
    query = select(*_REFERENCE_COLUMNS).where(models.c.file_sha256.is_not(None))
    if after is not None:
        sha256, model_id = after
        query = query.where(or_(models.c.file_sha256 > sha256,
                                and_(models.c.file_sha256 == sha256, models.c.id > model_id)))
    query = query.order_by(models.c.file_sha256, models.c.id).limit(limit)
    return [FileReference(sha256=row.file_sha256, model_id=row.id, name=row.name,
                          version=str(Version(row.version_major, row.version_minor)), size_bytes=int(row.file_size),
                          status=Status(row.status))
            for row in connection.execute(query)]


def _referenced(connection: Connection, sha256: str) -> bool:
    """Whether any version references the blob (call it under the blob's lock)."""
    return connection.execute(
        select(func.count()).select_from(
            select(models.c.seq).where(models.c.file_sha256 == sha256).limit(1).subquery())
    ).scalar_one() > 0


# ---- records copied in and out ----------------------------------------------------------------------


def _model_ids(connection: Connection, after: str | None, limit: int) -> list[str]:
    """Ids of versions and of events' versions, ascending: both come off their indexes in order."""
    versions = select(models.c.id.label("model_id"))
    logged = select(events.c.model_id).distinct()
    if after is not None:
        versions = versions.where(models.c.id > after)
        logged = logged.where(events.c.model_id > after)
    ids = union(versions, logged).subquery()
    return list(connection.execute(select(ids.c.model_id).order_by(ids.c.model_id).limit(limit)).scalars())


def _export_record(connection: Connection, model_id: str) -> ModelRecord:
    row = connection.execute(select(models).where(models.c.id == model_id)).mappings().first()
    rows = connection.execute(select(events).where(events.c.model_id == model_id).order_by(events.c.id)).mappings()
    return ModelRecord(model_id, None if row is None else to_model(row), [to_event(event) for event in rows])


def _import_record(connection: Connection, record: ModelRecord) -> bool:
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
            raise refusals.version_exists(model, clash)
        connection.execute(insert(models), model_row(model))
    if record.events:
        connection.execute(insert(events), [event_row(event) for event in record.events])
    return True


def _import_alias(connection: Connection, alias: Alias) -> bool:
    if connection.execute(select(literal(1)).where(aliases.c.name == alias.name,
                                                   aliases.c.alias == alias.alias)).first() is not None:
        return False
    if connection.execute(select(models.c.name).where(models.c.id == alias.model_id)).scalar() is None:
        raise refusals.alias_target_missing(alias.name, alias.alias, alias.model_id)
    connection.execute(insert(aliases), {"name": alias.name, "alias": alias.alias, "model_id": alias.model_id,
                                         "updated_at": alias.updated_at, "updated_by": alias.updated_by})
    return True


class SqlMaintenance(SqlBase):
    # ---- start-up and health ----------------------------------------------------------------

    def prepare(self, *, migrate: bool) -> None:
        head = migrations.head_revision()
        try:
            current = migrations.current_revision(self.engine)
            if current is not None and current not in migrations.known_revisions():
                raise Unavailable(
                    f"The database schema is at revision {current}, which this version of the service does not "
                    f"know (its newest is {head}): a newer release has upgraded it; run that release, or restore "
                    "a backup made with this one",
                    code="schema_too_new",
                    details={"current": current, "required": head},
                )
            if migrate:
                migrations.upgrade(self.engine)
                return
        except SQLAlchemyError as exc:
            raise unavailable(exc) from exc
        if current != head:
            raise Unavailable(
                f"The database schema is at revision {current or 'none'}, this version needs {head}: "
                "run `model-service db upgrade`",
                code="schema_out_of_date",
                details={"current": current, "required": head},
            )

    def check(self) -> Health:
        try:
            started = time.perf_counter()
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            latency_ms = round((time.perf_counter() - started) * 1000, 2)
            current = migrations.current_revision(self.engine)
        except SQLAlchemyError as exc:
            return Health(False, f"unhealthy: {str(getattr(exc, 'orig', exc))[:200]}", {"backend": self.dialect})
        info = {"backend": self.dialect, "schema_revision": current, "latency_ms": latency_ms}
        head = migrations.head_revision()
        if current != head:
            return Health(False, f"unhealthy: schema at {current}, needs {head}", info)
        return Health(True, info=info)

    def refresh_statistics(self) -> None:
        # SQLite's plans are fixed by the statements' shapes (see search.py), not by statistics.
        if self.dialect == "postgresql":
            with self.engine.connect() as connection:
                tables = ", ".join(table.name for table in schema.metadata.sorted_tables)
                connection.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(f"VACUUM ANALYZE {tables}")

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self.engine.dispose()

    # ---- blob references -------------------------------------------------------------------------

    def file_references(self, after: tuple[str, str] | None = None, limit: int = 500) -> list[FileReference]:
        with self._read() as connection:
            return _file_references(connection, after, limit)

    def delete_blob_if_unreferenced(self, sha256: str, release_blob: Callable[[str], None]) -> bool:
        def work(connection: Connection) -> bool:
            self._lock_blob(connection, sha256)
            if _referenced(connection, sha256):
                return False
            release_blob(sha256)
            return True
        return self._transact(work)

    # ---- moving between stores ----------------------------------------------------------------

    def model_ids(self, after: str | None = None, limit: int = 500) -> list[str]:
        with self._read() as connection:
            return _model_ids(connection, after, limit)

    def export_record(self, model_id: str) -> ModelRecord:
        with self._read(snapshot=True) as connection:
            return _export_record(connection, model_id)

    def import_record(self, record: ModelRecord) -> bool:
        for attempt in range(2):
            try:
                return self._transact(lambda connection: _import_record(connection, record))
            except IntegrityError as exc:  # written concurrently (PostgreSQL): look again, once
                if attempt:
                    raise refusals.written_meanwhile(record.model_id) from exc
        raise AssertionError("unreachable")

    def all_aliases(self) -> list[Alias]:
        with self._read() as connection:
            return alias_rows.all_aliases(connection)

    def import_alias(self, alias: Alias) -> bool:
        try:
            return self._transact(lambda connection: _import_alias(connection, alias))
        except IntegrityError:  # set concurrently (PostgreSQL): it is there, as the contract wants
            return False
