"""Registry figures in SQL: each an aggregate query, never a scan in Python."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, and_, func, select

from ...domain.models import ModelVersion, RegistryStats
from .rows import to_model
from .schema import events, models


def statistics(connection: Connection, *, added_since: datetime, downloads_since: datetime,
               today: datetime) -> RegistryStats:
    """Each figure by its own query, so that each reads one index rather than every row."""

    def scalar(query) -> int:
        return int(connection.execute(query).scalar_one() or 0)

    def grouped(column) -> dict[str, int]:
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
