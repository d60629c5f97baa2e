"""``MetadataStore`` on SQLAlchemy Core: SQLite and PostgreSQL through one code path.

Concurrency: every write runs in one transaction. On SQLite it starts with ``BEGIN IMMEDIATE``
(one writer at a time, database-wide). On PostgreSQL (READ COMMITTED) registrations of one name
are serialised by a transaction-scoped advisory lock on the name, with the unique
``(name, major, minor)`` constraint plus retry behind it; blob references are serialised per
sha256 with another advisory lock; a deletion locks its version's row first.
"""

from __future__ import annotations

import hashlib
import logging
import random
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, bindparam, case, func, insert, select, text, update
from sqlalchemy import delete as sql_delete
from sqlalchemy.exc import (
    ArgumentError,
    DataError,
    DBAPIError,
    IntegrityError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout

from ...domain.audit import AuditHook, AuditQuery, AuditRecord
from ...domain.errors import Conflict, Invalid, NotFound, Unavailable
from ...domain.keys import ApiKey
from ...domain.models import Alias, AliasMove, Draft, Event, EventKind, ModelVersion, RegistryStats, Status
from ...domain.naming import accuracy_of
from ...domain.ports import ANY, COUNTED_FIELDS, LATEST, FileReference, Health, ModelRecord, Page, PendingBlob
from ...domain.query import SearchQuery
from ...domain.versions import Version, following
from . import aliases as alias_rows
from . import migrate as migrations
from . import references, schema, security, stats, transfer
from .engine import make_engine
from .rows import append_event, file_columns, to_event, to_model, version_of
from .schema import events, models
from .search import TOTAL, SqlSearch, check_page
from .writer import SerialWriter

T = TypeVar("T")

log = logging.getLogger(__name__)

VERSION_ATTEMPTS = 50
NAME_LOCK_CLASS = 0x4D53_0001  # the advisory locks (class, key) of names; blobs use single 64-bit keys

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


def _unavailable(exc: SQLAlchemyError) -> Unavailable:
    if isinstance(exc, PoolTimeout):
        return Unavailable("The metadata database has no free connection: every one in this process's pool is "
                           "busy (DATABASE_POOL_SIZE)", code="database_busy")
    message = str(getattr(exc, "orig", exc)).splitlines()[0][:200]
    if "disk is full" in message or "No space left" in message:
        return Unavailable("The metadata database is out of space", code="storage_full")
    return Unavailable(f"The metadata database failed: {message}", code="database_error")


def _unstorable(exc: DataError) -> Invalid:
    """A value the database cannot hold (PostgreSQL: a NUL character in text), refused as the
    client's to fix rather than reported as an outage."""
    message = str(getattr(exc, "orig", exc)).splitlines()[0][:200]
    return Invalid(f"The metadata database cannot store this value: {message}", code="unstorable_value")


def _audited(work: Callable[[Connection], T], audit: AuditHook) -> Callable[[Connection], T]:
    """``work``, then the audit record of its result, on the same connection (one transaction)."""
    def run(connection: Connection) -> T:
        result = work(connection)
        record = audit(result)
        if record is not None:
            security.insert_audit(connection, record)
        return result
    return run


class SqlMetadataStore:
    def __init__(self, engine: Engine):
        self.engine = engine
        self.dialect = engine.dialect.name
        self._writer = SerialWriter(engine) if self.dialect == "sqlite" else None
        self.local_point_reads = self.dialect == "sqlite"

    @classmethod
    def from_url(cls, url: str, **engine_options: Any) -> SqlMetadataStore:
        """A store on ``url``; :class:`Invalid` (``invalid_setting``) for a URL no installed driver takes."""
        try:
            return cls(make_engine(url, **engine_options))
        except (ArgumentError, ImportError) as exc:
            raise Invalid(f"Cannot use the database URL {url.split('://', 1)[0]}://…: {exc}",
                          code="invalid_setting", details={"setting": "DATABASE_URL"}) from exc

    # ---- plumbing --------------------------------------------------------------------------

    @contextmanager
    def _read(self, *, snapshot: bool = False) -> Iterator[Connection]:
        """A connection for reading; ``snapshot`` reads several statements from one snapshot of
        the database: one transaction (SQLite's are snapshots), REPEATABLE READ on PostgreSQL,
        whose default gives each statement a snapshot of its own. A single statement is atomic
        by itself (and skips BEGIN/ROLLBACK on SQLite)."""
        try:
            with self.engine.connect() as connection:
                if not snapshot:
                    connection.execution_options(sqlite_begin=None)
                elif self.dialect == "postgresql":
                    connection.execution_options(isolation_level="REPEATABLE READ")
                yield connection
        except DataError as exc:
            raise _unstorable(exc) from exc
        except (OperationalError, DBAPIError, PoolTimeout) as exc:
            raise _unavailable(exc) from exc

    def _transact(self, work: Callable[[Connection], T], audit: AuditHook | None = None) -> T:
        """Run ``work`` in one write transaction, with the audit record ``audit`` makes of its
        result. IntegrityError passes through (for the version-number retry); a value the
        database cannot hold becomes :class:`Invalid`, other database failures :class:`Unavailable`.

        SQLite: on the database's single writer thread, group-committed (``writer.py``).
        """
        if audit is not None:
            work = _audited(work, audit)
        try:
            if self._writer is not None:
                return self._writer.run(work)
            with self.engine.connect() as connection, connection.begin():
                return work(connection)
        except IntegrityError:
            raise
        except DataError as exc:
            raise _unstorable(exc) from exc
        except (OperationalError, DBAPIError, PoolTimeout) as exc:
            raise _unavailable(exc) from exc

    def _lock_blob(self, connection: Connection, sha256: str) -> None:
        """Serialise reference changes to one blob until this transaction ends."""
        if self.dialect == "postgresql":
            key = int.from_bytes(bytes.fromhex(sha256[:16]), "big", signed=True)
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
        # SQLite: BEGIN IMMEDIATE already holds the database-wide write lock.

    def _lock_name(self, connection: Connection, name: str) -> None:
        """Serialise the registrations of one name until this transaction ends: each then reads
        the latest version after the previous one committed (READ COMMITTED reads afresh per
        statement), so a number is never computed from a stale latest — not even a major bump
        racing a minor one, which the unique constraint alone would let through."""
        if self.dialect == "postgresql":
            key = int.from_bytes(hashlib.blake2b(name.encode(), digest_size=4).digest(), "big", signed=True)
            connection.execute(text("SELECT pg_advisory_xact_lock(CAST(:class_ AS integer), CAST(:key AS integer))"),
                               {"class_": NAME_LOCK_CLASS, "key": key})

    # ---- MetadataStore ---------------------------------------------------------------------

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
            raise _unavailable(exc) from exc
        if current != head:
            raise Unavailable(
                f"The database schema is at revision {current or 'none'}, this version needs {head}: "
                "run `model-service db upgrade`",
                code="schema_out_of_date",
                details={"current": current, "required": head},
            )

    def create_version(self, draft: Draft, blob: PendingBlob | None = None,
                       audit: AuditHook | None = None) -> ModelVersion:
        for attempt in range(VERSION_ATTEMPTS):
            try:
                return self._transact(lambda connection: self._insert_version(connection, draft, blob), audit)
            except IntegrityError as exc:
                if attempt + 1 == VERSION_ATTEMPTS:
                    raise Conflict(f"Could not allocate a version of '{draft.name}' after {attempt + 1} attempts",
                                   code="version_conflict", details={"name": draft.name}) from exc
                time.sleep(random.uniform(0, 0.002 * (attempt + 1)))
        raise AssertionError("unreachable")

    def _insert_version(self, connection: Connection, draft: Draft, blob: PendingBlob | None) -> ModelVersion:
        self._lock_name(connection, draft.name)
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
            "accuracy": accuracy_of(draft.metrics),
            **file_columns(blob.file if blob else None),
        }
        connection.execute(_INSERT_MODEL, row)
        append_event(connection, draft.id, draft.name, EventKind.CREATED, draft.created_by, draft.created_at,
                    {"version": str(version), "parent_model_id": parent})
        if blob is not None:
            self._commit_blob(connection, draft.id, draft.name, blob, draft.created_by)
        return to_model(row)

    def _commit_blob(self, connection: Connection, model_id: str, name: str, blob: PendingBlob, actor: str) -> None:
        """The last step of a transaction that references a blob: every other statement has run,
        so only the transaction's own COMMIT can still fail after the blob is made durable."""
        append_event(connection, model_id, name, EventKind.UPLOADED, actor, blob.file.uploaded_at,
                    {"checksum": blob.file.checksum, "size_bytes": blob.file.size_bytes})
        self._lock_blob(connection, blob.file.sha256)
        blob.commit()

    def get(self, model_id: str) -> ModelVersion:
        with self._read() as connection:
            row = connection.execute(_BY_ID, {"model_id": model_id}).mappings().first()
        if row is None:
            raise NotFound(f"Model {model_id} not found", code="model_not_found", details={"model_id": model_id})
        return to_model(row)

    def search(self, query: SearchQuery) -> Page:
        check_page(query.offset, query.limit)
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
            raise NotFound(f"'{name}' has no version {version}", code="version_not_found",
                           details={"name": name, "version": str(version)})
        return to_model(row)

    def latest(self, name: str) -> ModelVersion:
        with self._read() as connection:
            row = connection.execute(_LATEST_ROW, {"name": name}).mappings().first()
        if row is None:
            raise NotFound(f"No model named '{name}'", code="name_not_found", details={"name": name})
        return to_model(row)

    def statistics(self, *, added_since: datetime, downloads_since: datetime, today: datetime) -> RegistryStats:
        with self._read(snapshot=True) as connection:
            return stats.statistics(connection, added_since=added_since, downloads_since=downloads_since,
                                    today=today)

    def popular(self, limit: int, since: datetime | None = None) -> list[tuple[ModelVersion, int]]:
        with self._read() as connection:
            return stats.popular(connection, limit, since)

    def value_counts(self, field: str, limit: int) -> list[tuple[str, int]]:
        if field not in COUNTED_FIELDS:
            raise ValueError(f"Cannot count versions by {field!r}")
        with self._read() as connection:
            return stats.value_counts(connection, field, limit)

    def downloads_by_day(self, since: datetime, until: datetime) -> dict[date, int]:
        with self._read() as connection:
            return stats.downloads_by_day(connection, since, until)

    # ---- aliases and the name's history ------------------------------------------------------

    def aliases(self, name: str) -> list[Alias]:
        with self._read() as connection:
            return alias_rows.aliases_of(connection, name)

    def get_alias(self, name: str, alias: str) -> Alias:
        with self._read() as connection:
            found = alias_rows.find_alias(connection, name, alias)
        if found is None:
            raise NotFound(f"{name}@{alias} is not set", code="alias_not_found", details={"name": name, "alias": alias})
        return found

    def move_alias(self, name: str, alias: str, model_id: str | None, expected: Any, actor: str,
                   at: datetime, audit: AuditHook | None = None) -> AliasMove:
        for attempt in range(VERSION_ATTEMPTS):
            try:
                return self._transact(
                    lambda connection: alias_rows.move(connection, name, alias, model_id, expected, actor, at), audit)
            except IntegrityError as exc:  # two first settings of one alias at once (PostgreSQL)
                if expected is not ANY or attempt + 1 == VERSION_ATTEMPTS:
                    raise Conflict(f"{name}@{alias} was set concurrently", code="alias_conflict",
                                   details={"name": name, "alias": alias}) from exc
        raise AssertionError("unreachable")

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

    def update(self, model_id: str, values: Mapping[str, Any], actor: str, at: datetime,
               audit: AuditHook | None = None) -> ModelVersion:
        return self._transact(lambda connection: self._update(connection, model_id, values, actor, at), audit)

    def _update(self, connection: Connection, model_id: str, values: Mapping[str, Any], actor: str,
                at: datetime) -> ModelVersion:
        row = connection.execute(
            select(models).where(models.c.id == model_id).with_for_update()
        ).mappings().first()
        if row is None:
            raise NotFound(f"Model {model_id} not found", code="model_not_found", details={"model_id": model_id})
        current = to_model(row)
        columns: dict[str, Any] = {}
        changed: list[str] = []
        for key, value in values.items():
            if key == "status":
                if value != current.status:
                    columns["status"] = Status(value).value
                    append_event(connection, model_id, current.name, EventKind.STATUS, actor, at,
                                {"from": current.status.value, "to": Status(value).value})
            elif key == "tags":
                if tuple(value) != current.tags:
                    columns["tags"] = list(value)
                    changed.append(key)
            elif getattr(current, key) != value:
                columns[key] = value
                changed.append(key)
                if key == "metrics":
                    columns["accuracy"] = accuracy_of(value)
        if changed:
            append_event(connection, model_id, current.name, EventKind.UPDATED, actor, at, {"fields": changed})
        if columns:
            columns["updated_at"] = at
            connection.execute(update(models).where(models.c.id == model_id).values(columns))
            row = {**row, **columns}
        return to_model(row)

    def attach_file(self, model_id: str, blob: PendingBlob, actor: str,
                    audit: AuditHook | None = None) -> ModelVersion:
        return self._transact(lambda connection: self._attach_file(connection, model_id, blob, actor), audit)

    def _attach_file(self, connection: Connection, model_id: str, blob: PendingBlob, actor: str) -> ModelVersion:
        result = connection.execute(
            update(models)
            .where(models.c.id == model_id, models.c.file_sha256.is_(None))
            .values(**file_columns(blob.file), updated_at=blob.file.uploaded_at)
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
        return to_model(row)

    def delete(self, model_id: str, release_blob: Callable[[str], None], actor: str, at: datetime,
               audit: AuditHook | None = None, *, unless_aliased: bool = False) -> ModelVersion:
        return self._transact(
            lambda connection: self._delete(connection, model_id, release_blob, actor, at, unless_aliased), audit)

    def _delete(self, connection: Connection, model_id: str, release_blob: Callable[[str], None], actor: str,
                at: datetime, unless_aliased: bool = False) -> ModelVersion:
        # The row lock orders this deletion with alias moves to the version (their foreign key
        # check) on PostgreSQL: a move committed first is seen and undone below, a later one fails.
        current = connection.execute(select(models.c.name).where(models.c.id == model_id).with_for_update()).first()
        if current is None:
            raise NotFound(f"Model {model_id} not found", code="model_not_found", details={"model_id": model_id})
        if unless_aliased:
            references.refuse_if_aliased(connection, model_id, current.name)  # under the row lock taken above
        alias_rows.remove_for_version(connection, model_id, current.name, actor, at)
        row = connection.execute(
            sql_delete(models).where(models.c.id == model_id).returning(*models.c)
        ).mappings().first()
        append_event(connection, model_id, row["name"], EventKind.DELETED, actor, at, {"version": version_of(row)})
        sha256 = row["file_sha256"]
        if sha256 is not None:
            self._lock_blob(connection, sha256)
            others = connection.execute(
                select(func.count()).select_from(models).where(models.c.file_sha256 == sha256)
            ).scalar_one()
            if others == 0:
                release_blob(sha256)
        return to_model(row)

    def file_references(self, after: tuple[str, str] | None = None, limit: int = 500) -> list[FileReference]:
        with self._read() as connection:
            return references.file_references(connection, after, limit)

    def delete_blob_if_unreferenced(self, sha256: str, release_blob: Callable[[str], None]) -> bool:
        def work(connection: Connection) -> bool:
            self._lock_blob(connection, sha256)
            if references.referenced(connection, sha256):
                return False
            release_blob(sha256)
            return True
        return self._transact(work)

    def record_download(self, model_id: str, actor: str, at: datetime, data: Mapping[str, Any]) -> None:
        self._transact(lambda connection: self._record_download(connection, model_id, actor, at, data))

    def _record_download(self, connection: Connection, model_id: str, actor: str, at: datetime,
                         data: Mapping[str, Any]) -> None:
        name = connection.execute(
            update(models).where(models.c.id == model_id)
            .values(download_count=models.c.download_count + 1).returning(models.c.name)
        ).scalar()
        if name is not None:
            append_event(connection, model_id, name, EventKind.DOWNLOADED, actor, at, data)

    def events(self, model_id: str, kinds: tuple[str, ...] | None = None) -> list[Event]:
        query = select(events).where(events.c.model_id == model_id).order_by(events.c.id)
        if kinds:
            query = query.where(events.c.kind.in_(kinds))
        with self._read() as connection:
            rows = connection.execute(query).mappings().all()
        return [to_event(row) for row in rows]

    # ---- moving between stores ----------------------------------------------------------------

    def model_ids(self, after: str | None = None, limit: int = 500) -> list[str]:
        with self._read() as connection:
            return transfer.model_ids(connection, after, limit)

    def export_record(self, model_id: str) -> ModelRecord:
        with self._read(snapshot=True) as connection:
            return transfer.export_record(connection, model_id)

    def import_record(self, record: ModelRecord) -> bool:
        for attempt in range(2):
            try:
                return self._transact(lambda connection: transfer.import_record(connection, record))
            except IntegrityError as exc:  # written concurrently (PostgreSQL): look again, once
                if attempt:
                    raise Conflict(f"Model {record.model_id} clashes with a version written meanwhile",
                                   code="version_exists", details={"model_id": record.model_id}) from exc
        raise AssertionError("unreachable")

    def all_aliases(self) -> list[Alias]:
        with self._read() as connection:
            return alias_rows.all_aliases(connection)

    def import_alias(self, alias: Alias) -> bool:
        try:
            return self._transact(lambda connection: transfer.import_alias(connection, alias))
        except IntegrityError:  # set concurrently (PostgreSQL): it is there, as the contract wants
            return False

    # ---- API keys and the audit log ----------------------------------------------------------------

    def add_key(self, key: ApiKey, audit: AuditHook | None = None) -> None:
        try:
            self._transact(lambda connection: security.add_key(connection, key), audit)
        except IntegrityError as exc:
            raise Conflict(f"An API key with id {key.key_id} exists", code="key_exists",
                           details={"key_id": key.key_id}) from exc

    def get_key(self, key_id: str) -> ApiKey:
        with self._read() as connection:
            return security.get_key(connection, key_id)

    def list_keys(self) -> list[ApiKey]:
        with self._read() as connection:
            return security.list_keys(connection)

    def revoke_key(self, key_id: str, actor: str, at: datetime, audit: AuditHook | None = None) -> ApiKey:
        return self._transact(lambda connection: security.revoke_key(connection, key_id, actor, at), audit)

    def append_audit(self, record: AuditRecord) -> bool:
        try:
            return self._transact(lambda connection: security.append_audit(connection, record))
        except IntegrityError:  # appended concurrently (PostgreSQL): it is there
            return False

    def audit_records(self, query: AuditQuery) -> list[AuditRecord]:
        with self._read() as connection:
            return security.audit_records(connection, query)

    def refresh_statistics(self) -> None:
        # SQLite's plans are fixed by the statements' shapes (see search.py), not by statistics.
        if self.dialect == "postgresql":
            with self.engine.connect() as connection:
                tables = ", ".join(table.name for table in schema.metadata.sorted_tables)
                connection.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(f"VACUUM ANALYZE {tables}")

    def summary(self) -> dict[str, int]:
        with self._read(snapshot=True) as connection:
            total, active = connection.execute(
                select(func.count(), func.coalesce(func.sum(case((models.c.status == "active", 1), else_=0)), 0))
            ).one()
            stored = stats.stored_bytes(connection)
        return {"total_models": int(total), "active_models": int(active), "stored_bytes": stored}

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
