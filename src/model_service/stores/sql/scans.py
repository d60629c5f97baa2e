"""Stored verdicts in SQL: the versions whose file's scan is stale, read off the ``file_scan``
JSON column (``->>`` on PostgreSQL, ``json_extract`` on SQLite) in keyset pages, and a new
verdict written under the version's row lock, with its event, in one transaction."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, Connection, and_, or_, select, update

from ...domain import refusals
from ...domain.audit import AuditHook
from ...domain.models import ModelVersion
from ...domain.plans.scans import plan_rescan
from ...domain.ports.scans import ScanReference
from ...domain.rescanning import Staleness
from ...domain.scanning import ScanResult, Verdict
from ...domain.versions import Version
from .base import SqlBase
from .rows import insert_events, to_model
from .schema import models

_COLUMNS = (models.c.file_sha256, models.c.id, models.c.name, models.c.version_major, models.c.version_minor,
            models.c.file_format, models.c.file_size, models.c.file_scan)


def stale(criteria: Staleness) -> ColumnElement[bool]:
    """:meth:`Staleness.why` is not None, in SQL. A file without a scan holds SQL NULL (a version
    from before migration 0005) or JSON ``null`` (written since): either way no field extracts."""
    scan = models.c.file_scan
    verdict, reason = scan["verdict"].as_string(), scan["reason"].as_string()
    scanner, version = scan["scanner"].as_string(), scan["scanner_version"].as_string()
    conditions: list[ColumnElement[bool]] = [
        verdict.is_(None),
        and_(scanner.is_not(None), version.is_distinct_from(criteria.scanner_version)),
    ]
    if criteria.reasons:
        conditions.append(and_(verdict == Verdict.UNSCANNED.value, reason.in_(sorted(criteria.reasons))))
    return or_(*conditions)


def _files_to_rescan(connection: Connection, criteria: Staleness, after: tuple[str, str] | None,
                     limit: int) -> list[ScanReference]:
    """In (file_sha256, id) order: the order of the (file_sha256, …) index, filtered as it is walked."""
    query = select(*_COLUMNS).where(models.c.file_sha256.is_not(None), stale(criteria))
    if after is not None:
        sha256, model_id = after
        query = query.where(or_(models.c.file_sha256 > sha256,
                                and_(models.c.file_sha256 == sha256, models.c.id > model_id)))
    query = query.order_by(models.c.file_sha256, models.c.id).limit(limit)
    return [ScanReference(sha256=row.file_sha256, model_id=row.id, name=row.name,
                          version=str(Version(row.version_major, row.version_minor)), format=row.file_format,
                          size_bytes=int(row.file_size),
                          scan=None if row.file_scan is None else ScanResult.from_json(row.file_scan))
            for row in connection.execute(query)]


class SqlScans(SqlBase):
    def files_to_rescan(self, stale: Staleness, after: tuple[str, str] | None = None,
                        limit: int = 500) -> list[ScanReference]:
        if limit <= 0:
            return []
        with self._read() as connection:
            return _files_to_rescan(connection, stale, after, limit)

    def record_scan(self, model_id: str, expected: ScanResult | None, scan: ScanResult, actor: str, at: datetime,
                    audit: AuditHook | None = None) -> ModelVersion:
        def work(connection: Connection) -> ModelVersion:
            # The row lock (SQLite: the database's write lock) makes the comparison and the write one step.
            row = connection.execute(select(models).where(models.c.id == model_id).with_for_update()).mappings().first()
            if row is None:
                raise refusals.model_not_found(model_id)
            plan = plan_rescan(to_model(row), expected, scan, actor, at)
            connection.execute(update(models).where(models.c.id == model_id).values(file_scan=scan.to_json()))
            insert_events(connection, (plan.event,))
            return plan.model
        return self._transact(work, audit)
