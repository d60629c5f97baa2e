"""Registry figures in SQL: each an aggregate query, never a scan in Python."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Date, Select, and_, case, cast, func, select
from sqlalchemy.sql.elements import ColumnElement

from ...domain.models import ModelVersion, RegistryStats
from ...domain.ports.figures import check_counted
from .base import SqlBase
from .rows import to_model
from .schema import events, model_tags, models


def statistics(connection: Connection, *, added_since: datetime, downloads_since: datetime,
               today: datetime) -> RegistryStats:
    """Each figure by its own query, so that each reads one index rather than every row."""

    def scalar(query: Select[Any]) -> int:
        return int(connection.execute(query).scalar_one() or 0)

    def grouped(column: ColumnElement[str]) -> dict[str, int]:
        rows = connection.execute(select(column, func.count()).group_by(column).order_by(func.count().desc()))
        return {key: int(count) for key, count in rows}

    def downloads_after(start: datetime) -> int:
        return scalar(select(func.count()).select_from(events)
                      .where(events.c.kind == "downloaded", events.c.at >= start))

    return RegistryStats(
        total_models=scalar(select(func.count()).select_from(models)),
        by_algorithm=grouped(models.c.algorithm),
        by_status=grouped(models.c.status),
        total_downloads=scalar(select(func.sum(models.c.download_count))),
        stored_bytes=stored_bytes(connection),
        versions_with_file=scalar(select(func.count(models.c.file_sha256))),
        file_bytes=scalar(select(func.sum(models.c.file_size))),
        added_since=scalar(select(func.count()).select_from(models).where(models.c.created_at >= added_since)),
        downloads_since=downloads_after(downloads_since),
        created_today=scalar(select(func.count()).select_from(models).where(models.c.created_at >= today)),
        downloads_today=downloads_after(today),
    )


def stored_bytes(connection: Connection) -> int:
    """The size of every distinct blob, once (versions share content)."""
    distinct_blobs = (
        select(func.max(models.c.file_size).label("size"))
        .where(models.c.file_sha256.is_not(None))
        .group_by(models.c.file_sha256)
        .subquery()
    )
    return int(connection.execute(select(func.coalesce(func.sum(distinct_blobs.c.size), 0))).scalar_one())


def popular(connection: Connection, limit: int, since: datetime | None) -> list[tuple[ModelVersion, int]]:
    if since is None:
        rows = connection.execute(
            select(models).where(models.c.download_count > 0)
            .order_by(models.c.download_count.desc(), models.c.id.desc()).limit(limit)
        ).mappings().all()
        return [(to_model(row), int(row["download_count"])) for row in rows]
    window = (
        select(events.c.model_id, func.count().label("downloads"))
        .where(events.c.kind == "downloaded", events.c.at >= since)
        .group_by(events.c.model_id)
        .subquery()
    )
    rows = connection.execute(
        select(models, window.c.downloads)
        .join(window, and_(window.c.model_id == models.c.id))
        .order_by(window.c.downloads.desc(), models.c.id.desc()).limit(limit)
    ).mappings().all()
    return [(to_model(row), int(row["downloads"])) for row in rows]


def value_counts(connection: Connection, field: str, limit: int) -> list[tuple[str, int]]:
    """One GROUP BY, read in value order from the column's index: ``algorithm`` and ``status``
    over ``models``, ``tags`` over ``model_tags`` (its rows are those of live versions: a
    deletion removes the version's row, and its tag rows with it)."""
    if limit <= 0:
        return []
    column = model_tags.c.tag if field == "tags" else models.c[field]
    uses = func.count().label("uses")
    rows = connection.execute(select(column, uses).group_by(column).order_by(uses.desc(), column).limit(limit))
    return [(value, int(count)) for value, count in rows]


def downloads_by_day(connection: Connection, since: datetime, until: datetime) -> dict[date, int]:
    """Download events in [since, until) from the ``(kind, at)`` index, grouped by UTC day in SQL."""
    day = utc_day(connection, events.c.at).label("day")
    rows = connection.execute(
        select(day, func.count())
        .where(events.c.kind == "downloaded", events.c.at >= since, events.c.at < until)
        .group_by(day)
    )
    return {_as_date(value): int(count) for value, count in rows}


def utc_day(connection: Connection, column: ColumnElement[datetime]) -> ColumnElement[date]:
    """The UTC calendar day of a time column. PostgreSQL keeps ``timestamptz``, whose cast to a
    date would follow the session's time zone: it is converted to UTC first (``timezone('UTC',
    at)`` is ``at AT TIME ZONE 'UTC'``). SQLite keeps UTC as naive text, whose ``date()`` is the UTC day."""
    if connection.dialect.name == "postgresql":
        return cast(func.timezone("UTC", column), Date)
    return func.date(column)


def _as_date(value: date | str) -> date:
    """SQLite's ``date()`` is text (``YYYY-MM-DD``); PostgreSQL's cast a ``date``."""
    return value if isinstance(value, date) else date.fromisoformat(value)


class SqlFigures(SqlBase):
    def statistics(self, *, added_since: datetime, downloads_since: datetime, today: datetime) -> RegistryStats:
        with self._read(snapshot=True) as connection:
            return statistics(connection, added_since=added_since, downloads_since=downloads_since, today=today)

    def popular(self, limit: int, since: datetime | None = None) -> list[tuple[ModelVersion, int]]:
        with self._read() as connection:
            return popular(connection, limit, since)

    def value_counts(self, field: str, limit: int) -> list[tuple[str, int]]:
        check_counted(field)
        with self._read() as connection:
            return value_counts(connection, field, limit)

    def downloads_by_day(self, since: datetime, until: datetime) -> dict[date, int]:
        with self._read() as connection:
            return downloads_by_day(connection, since, until)

    def summary(self) -> dict[str, int]:
        with self._read(snapshot=True) as connection:
            total, active = connection.execute(
                select(func.count(), func.coalesce(func.sum(case((models.c.status == "active", 1), else_=0)), 0))
            ).one()
            stored = stored_bytes(connection)
        return {"total_models": int(total), "active_models": int(active), "stored_bytes": stored}
