"""Registry figures in SQL: each an aggregate query, never a scan in Python."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, and_, case, func, select

from ...domain.models import ModelVersion, RegistryStats
from .rows import to_model
from .schema import events, models


def statistics(connection: Connection, *, added_since: datetime, downloads_since: datetime,
               today: datetime) -> RegistryStats:
    totals = connection.execute(select(
        func.count(),
        func.coalesce(func.sum(models.c.download_count), 0),
        func.count(models.c.file_sha256),
        func.coalesce(func.sum(models.c.file_size), 0),
        func.coalesce(func.sum(case((models.c.created_at >= added_since, 1), else_=0)), 0),
        func.coalesce(func.sum(case((models.c.created_at >= today, 1), else_=0)), 0),
    )).one()
    by_algorithm = dict(connection.execute(
        select(models.c.algorithm, func.count()).group_by(models.c.algorithm).order_by(func.count().desc())).all())
    by_status = dict(connection.execute(select(models.c.status, func.count()).group_by(models.c.status)).all())
    downloads_since_start, downloads_today = connection.execute(select(
        func.coalesce(func.sum(case((events.c.at >= downloads_since, 1), else_=0)), 0),
        func.coalesce(func.sum(case((events.c.at >= today, 1), else_=0)), 0),
    ).where(events.c.kind == "downloaded", events.c.at >= min(downloads_since, today))).one()
    return RegistryStats(
        total_models=int(totals[0]),
        by_algorithm={k: int(v) for k, v in by_algorithm.items()},
        by_status={k: int(v) for k, v in by_status.items()},
        total_downloads=int(totals[1]),
        stored_bytes=stored_bytes(connection),
        versions_with_file=int(totals[2]),
        file_bytes=int(totals[3]),
        added_since=int(totals[4]),
        downloads_since=int(downloads_since_start),
        created_today=int(totals[5]),
        downloads_today=int(downloads_today),
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
