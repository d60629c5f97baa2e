"""``MetadataStore`` on SQLAlchemy Core: SQLite and PostgreSQL through one code path.

Concurrency: every write runs in one transaction. On SQLite it starts with ``BEGIN IMMEDIATE``
(one writer at a time, database-wide); on PostgreSQL, version numbers rely on the unique
``(name, major, minor)`` constraint plus retry, and blob references are serialised per sha256
with a transaction-scoped advisory lock.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, bindparam, case, func, insert, select, text, update
from sqlalchemy import delete as sql_delete
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, SQLAlchemyError

from ...domain.errors import Conflict, NotFound, Unavailable
from ...domain.models import Draft, Event, EventKind, FileInfo, ModelVersion, Status
from ...domain.ports import LATEST, Health, Page, PendingBlob
from ...domain.versions import Version, following
from . import migrate as migrations
from .engine import make_engine
from .schema import events, models
from .writer import SerialWriter

T = TypeVar("T")

log = logging.getLogger(__name__)

VERSION_ATTEMPTS = 50

# Statements on the hot paths, built once (SQLAlchemy then reuses their compiled form).
_BY_ID = select(models).where(models.c.id == bindparam("model_id"))
_LATEST_OF_NAME = (
    select(models.c.id, models.c.version_major, models.c.version_minor)
    .where(models.c.name == bindparam("name"))
    .order_by(models.c.version_major.desc(), models.c.version_minor.desc())
    .limit(1)
)
_INSERT_MODEL = insert(models)
_INSERT_EVENT = insert(events)


def _unavailable(exc: SQLAlchemyError) -> Unavailable:
    message = str(getattr(exc, "orig", exc)).splitlines()[0][:200]
    if "disk is full" in message or "No space left" in message:
        return Unavailable("The metadata database is out of space", code="storage_full")
    return Unavailable(f"The metadata database failed: {message}", code="database_error")


class SqlMetadataStore:
    def __init__(self, engine: Engine):
        self.engine = engine
        self.dialect = engine.dialect.name
        self._writer = SerialWriter(engine) if self.dialect == "sqlite" else None
        self.local_point_reads = self.dialect == "sqlite"

    @classmethod
    def from_url(cls, url: str, **engine_options: Any) -> SqlMetadataStore:
        return cls(make_engine(url, **engine_options))

    # ---- plumbing --------------------------------------------------------------------------

    @contextmanager
    def _read(self, *, snapshot: bool = False) -> Iterator[Connection]:
        """A connection for reading; ``snapshot`` puts several statements in one transaction
        (single statements are atomic by themselves and skip BEGIN/ROLLBACK on SQLite)."""
        try:
            with self.engine.connect() as connection:
                if not snapshot:
                    connection.execution_options(sqlite_begin=None)
                yield connection
        except (OperationalError, DBAPIError) as exc:
            raise _unavailable(exc) from exc

    def _transact(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in one write transaction. IntegrityError passes through (for the
        version-number retry); other database failures become :class:`Unavailable`.

        SQLite: on the database's single writer thread, group-committed (``writer.py``).
        """
        try:
            if self._writer is not None:
                return self._writer.run(work)
            with self.engine.connect() as connection, connection.begin():
                return work(connection)
        except IntegrityError:
            raise
        except (OperationalError, DBAPIError) as exc:
            raise _unavailable(exc) from exc

    def _lock_blob(self, connection: Connection, sha256: str) -> None:
        """Serialise reference changes to one blob until this transaction ends."""
        if self.dialect == "postgresql":
            key = int.from_bytes(bytes.fromhex(sha256[:16]), "big", signed=True)
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
        # SQLite: BEGIN IMMEDIATE already holds the database-wide write lock.

    @staticmethod
    def _event(connection: Connection, model_id: str, name: str, kind: EventKind, actor: str, at: datetime,
               data: Mapping[str, Any] | None = None) -> None:
        connection.execute(_INSERT_EVENT, {"model_id": model_id, "model_name": name, "kind": kind.value,
                                           "actor": actor, "at": at, "data": dict(data or {})})

    # ---- MetadataStore ---------------------------------------------------------------------

    def prepare(self, *, migrate: bool) -> None:
        try:
            if migrate:
                migrations.upgrade(self.engine)
                return
            current = migrations.current_revision(self.engine)
        except SQLAlchemyError as exc:
            raise _unavailable(exc) from exc
        head = migrations.head_revision()
        if current != head:
            raise Unavailable(
                f"The database schema is at revision {current or 'none'}, this version needs {head}: "
                "run `model-service db upgrade`",
                code="schema_out_of_date",
                details={"current": current, "required": head},
            )

    def create_version(self, draft: Draft, blob: PendingBlob | None = None) -> ModelVersion:
        for attempt in range(VERSION_ATTEMPTS):
            try:
                return self._transact(lambda connection: self._insert_version(connection, draft, blob))
            except IntegrityError as exc:
                if attempt + 1 == VERSION_ATTEMPTS:
                    raise Conflict(f"Could not allocate a version of '{draft.name}' after {attempt + 1} attempts",
                                   code="version_conflict", details={"name": draft.name}) from exc
                time.sleep(random.uniform(0, 0.002 * (attempt + 1)))
        raise AssertionError("unreachable")

    def _insert_version(self, connection: Connection, draft: Draft, blob: PendingBlob | None) -> ModelVersion:
        latest = connection.execute(_LATEST_OF_NAME, {"name": draft.name}).first()
        version = following(None if latest is None else Version(latest[1], latest[2]), breaking=draft.breaking)
        parent = (latest[0] if latest else None) if draft.parent_model_id == LATEST else draft.parent_model_id
        row = {
            "id": draft.id,
            "name": draft.name,
            "version_major": version.major,
            "version_minor": version.minor,
            "algorithm": draft.algorithm,
            "hyperparameters": draft.hyperparameters,
            "metrics": draft.metrics,
            "dataset_info": draft.dataset_info,
            "tags": list(draft.tags),
            "description": draft.description,
            "created_by": draft.created_by,
            "status": draft.status.value,
            "parent_model_id": parent,
            "format": draft.format,
            "created_at": draft.created_at,
            "updated_at": draft.created_at,
            "download_count": 0,
            **_file_columns(blob.file if blob else None),
        }
        connection.execute(_INSERT_MODEL, row)
        self._event(connection, draft.id, draft.name, EventKind.CREATED, draft.created_by, draft.created_at,
                    {"version": str(version), "parent_model_id": parent})
        if blob is not None:
            self._commit_blob(connection, draft.id, draft.name, blob, draft.created_by)
        return _to_model(row)

    def _commit_blob(self, connection: Connection, model_id: str, name: str, blob: PendingBlob, actor: str) -> None:
        """The last step of a transaction that references a blob: every other statement has run,
        so only the transaction's own COMMIT can still fail after the blob is made durable."""
        self._event(connection, model_id, name, EventKind.UPLOADED, actor, blob.file.uploaded_at,
                    {"checksum": blob.file.checksum, "size_bytes": blob.file.size_bytes})
        self._lock_blob(connection, blob.file.sha256)
        blob.commit()

    def get(self, model_id: str) -> ModelVersion:
        with self._read() as connection:
            row = connection.execute(_BY_ID, {"model_id": model_id}).mappings().first()
        if row is None:
            raise NotFound(f"Model {model_id} not found", code="model_not_found", details={"model_id": model_id})
        return _to_model(row)

    def list(self, offset: int, limit: int) -> Page:
        with self._read(snapshot=True) as connection:
            total = connection.execute(select(func.count()).select_from(models)).scalar_one()
            rows = connection.execute(
                select(models).order_by(models.c.created_at.desc(), models.c.id.desc()).offset(offset).limit(limit)
            ).mappings().all()
        return Page([_to_model(row) for row in rows], total)

    def update(self, model_id: str, values: Mapping[str, Any], actor: str, at: datetime) -> ModelVersion:
        return self._transact(lambda connection: self._update(connection, model_id, values, actor, at))

    def _update(self, connection: Connection, model_id: str, values: Mapping[str, Any], actor: str,
                at: datetime) -> ModelVersion:
        row = connection.execute(
            select(models).where(models.c.id == model_id).with_for_update()
        ).mappings().first()
        if row is None:
            raise NotFound(f"Model {model_id} not found", code="model_not_found", details={"model_id": model_id})
        current = _to_model(row)
        columns: dict[str, Any] = {}
        changed: list[str] = []
        for key, value in values.items():
            if key == "status":
                if value != current.status:
                    columns["status"] = Status(value).value
                    self._event(connection, model_id, current.name, EventKind.STATUS, actor, at,
                                {"from": current.status.value, "to": Status(value).value})
            elif key == "tags":
                if tuple(value) != current.tags:
                    columns["tags"] = list(value)
                    changed.append(key)
            elif getattr(current, key) != value:
                columns[key] = value
                changed.append(key)
        if changed:
            self._event(connection, model_id, current.name, EventKind.UPDATED, actor, at, {"fields": changed})
        if columns:
            columns["updated_at"] = at
            connection.execute(update(models).where(models.c.id == model_id).values(columns))
            row = {**row, **columns}
        return _to_model(row)

    def attach_file(self, model_id: str, blob: PendingBlob, actor: str) -> ModelVersion:
        return self._transact(lambda connection: self._attach_file(connection, model_id, blob, actor))

    def _attach_file(self, connection: Connection, model_id: str, blob: PendingBlob, actor: str) -> ModelVersion:
        result = connection.execute(
            update(models)
            .where(models.c.id == model_id, models.c.file_sha256.is_(None))
            .values(**_file_columns(blob.file), updated_at=blob.file.uploaded_at)
            .returning(*models.c)
        )
        row = result.mappings().first()
        if row is None:
            exists = connection.execute(select(models.c.file_sha256).where(models.c.id == model_id)).first()
            if exists is None:
                raise NotFound(f"Model {model_id} not found", code="model_not_found",
                               details={"model_id": model_id})
            raise Conflict(
                f"Model {model_id} already has a file; files are immutable, register a new version instead",
                code="file_exists", details={"model_id": model_id, "checksum": f"sha256:{exists[0]}"},
            )
        self._commit_blob(connection, model_id, row["name"], blob, actor)
        return _to_model(row)

    def delete(self, model_id: str, release_blob: Callable[[str], None], actor: str, at: datetime) -> ModelVersion:
        return self._transact(lambda connection: self._delete(connection, model_id, release_blob, actor, at))

    def _delete(self, connection: Connection, model_id: str, release_blob: Callable[[str], None], actor: str,
                at: datetime) -> ModelVersion:
        row = connection.execute(
            sql_delete(models).where(models.c.id == model_id).returning(*models.c)
        ).mappings().first()
        if row is None:
            raise NotFound(f"Model {model_id} not found", code="model_not_found", details={"model_id": model_id})
        self._event(connection, model_id, row["name"], EventKind.DELETED, actor, at, {"version": _version(row)})
        sha256 = row["file_sha256"]
        if sha256 is not None:
            self._lock_blob(connection, sha256)
            others = connection.execute(
                select(func.count()).select_from(models).where(models.c.file_sha256 == sha256)
            ).scalar_one()
            if others == 0:
                release_blob(sha256)
        return _to_model(row)

    def record_download(self, model_id: str, actor: str, at: datetime, data: Mapping[str, Any]) -> None:
        self._transact(lambda connection: self._record_download(connection, model_id, actor, at, data))

    def _record_download(self, connection: Connection, model_id: str, actor: str, at: datetime,
                         data: Mapping[str, Any]) -> None:
        name = connection.execute(
            update(models).where(models.c.id == model_id)
            .values(download_count=models.c.download_count + 1).returning(models.c.name)
        ).scalar()
        if name is not None:
            self._event(connection, model_id, name, EventKind.DOWNLOADED, actor, at, data)

    def events(self, model_id: str, kinds: tuple[str, ...] | None = None) -> list[Event]:
        query = select(events).where(events.c.model_id == model_id).order_by(events.c.id)
        if kinds:
            query = query.where(events.c.kind.in_(kinds))
        with self._read() as connection:
            rows = connection.execute(query).mappings().all()
        return [Event(id=r["id"], model_id=r["model_id"], model_name=r["model_name"], kind=EventKind(r["kind"]),
                      actor=r["actor"], at=r["at"], data=r["data"]) for r in rows]

    def summary(self) -> dict[str, int]:
        distinct_blobs = (
            select(func.max(models.c.file_size).label("size"))
            .where(models.c.file_sha256.is_not(None))
            .group_by(models.c.file_sha256)
            .subquery()
        )
        with self._read(snapshot=True) as connection:
            total, active = connection.execute(
                select(func.count(), func.coalesce(func.sum(case((models.c.status == "active", 1), else_=0)), 0))
            ).one()
            stored = connection.execute(select(func.coalesce(func.sum(distinct_blobs.c.size), 0))).scalar_one()
        return {"total_models": int(total), "active_models": int(active), "stored_bytes": int(stored)}

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

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self.engine.dispose()


def _version(row: Mapping[str, Any]) -> str:
    return str(Version(row["version_major"], row["version_minor"]))


def _file_columns(file: FileInfo | None) -> dict[str, Any]:
    if file is None:
        return {"file_sha256": None, "file_size": None, "file_format": None, "file_name": None,
                "file_content_type": None, "file_uploaded_at": None}
    return {
        "file_sha256": file.sha256,
        "file_size": file.size_bytes,
        "file_format": file.format,
        "file_name": file.filename,
        "file_content_type": file.content_type,
        "file_uploaded_at": file.uploaded_at,
    }


def _to_model(row: Mapping[str, Any]) -> ModelVersion:
    file = None
    if row["file_sha256"] is not None:
        file = FileInfo(
            sha256=row["file_sha256"],
            size_bytes=row["file_size"],
            format=row["file_format"],
            filename=row["file_name"],
            content_type=row["file_content_type"],
            uploaded_at=row["file_uploaded_at"],
        )
    return ModelVersion(
        id=row["id"],
        name=row["name"],
        version=Version(row["version_major"], row["version_minor"]),
        algorithm=row["algorithm"],
        hyperparameters=row["hyperparameters"],
        metrics=row["metrics"],
        dataset_info=row["dataset_info"],
        tags=tuple(row["tags"]),
        description=row["description"],
        created_by=row["created_by"],
        status=Status(row["status"]),
        parent_model_id=row["parent_model_id"],
        format=row["format"],
        file=file,
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        download_count=row["download_count"],
    )
