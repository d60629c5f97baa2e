"""Registry figures in MongoDB: counts and aggregation pipelines run by the server, each reading
an index where one fits; no version is loaded into the service to be counted."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from ...domain.models import EventKind, ModelVersion, RegistryStats
from ...domain.ports.figures import check_counted
from .base import MongoBase
from .documents import HIDDEN, to_model
from .errors import translated
from .schema import LIVE, MODELS, Collections

WITH_FILE = {**LIVE, "file_metadata.sha256": {"$type": "string"}}


def _first(cursor: Any) -> dict[str, Any]:
    return next(iter(cursor), None) or {}


def _grouped(db: Collections, field: str) -> dict[str, int]:
    rows = db.models.aggregate([
        {"$match": LIVE},
        {"$group": {"_id": "$" + field, "count": {"$sum": 1}}},
        {"$sort": {"count": -1, "_id": 1}},
    ])
    return {row["_id"]: int(row["count"]) for row in rows}


def file_figures(db: Collections) -> dict[str, int]:
    """``stored_bytes`` (each distinct blob once), ``versions_with_file`` and ``file_bytes``."""
    row = _first(db.models.aggregate([
        {"$match": WITH_FILE},
        {"$group": {"_id": "$file_metadata.sha256", "size": {"$max": "$file_metadata.size_bytes"},
                    "versions": {"$sum": 1}, "bytes": {"$sum": "$file_metadata.size_bytes"}}},
        {"$group": {"_id": None, "stored": {"$sum": "$size"}, "versions": {"$sum": "$versions"},
                    "bytes": {"$sum": "$bytes"}}},
    ]))
    return {"stored_bytes": int(row.get("stored", 0)), "versions_with_file": int(row.get("versions", 0)),
            "file_bytes": int(row.get("bytes", 0))}


def _downloads_since(db: Collections, start: datetime) -> int:
    return db.events.count_documents({"kind": EventKind.DOWNLOADED.value, "at": {"$gte": start}})


def statistics(db: Collections, *, added_since: datetime, downloads_since: datetime,
               today: datetime) -> RegistryStats:
    downloads = _first(db.models.aggregate([
        {"$match": LIVE}, {"$group": {"_id": None, "total": {"$sum": "$download_count"}}}]))
    files = file_figures(db)
    return RegistryStats(
        total_models=db.models.count_documents(LIVE),
        by_algorithm=_grouped(db, "algorithm"),
        by_status=_grouped(db, "status"),
        total_downloads=int(downloads.get("total", 0)),
        stored_bytes=files["stored_bytes"],
        versions_with_file=files["versions_with_file"],
        file_bytes=files["file_bytes"],
        added_since=db.models.count_documents({**LIVE, "created_at": {"$gte": added_since}}),
        downloads_since=_downloads_since(db, downloads_since),
        created_today=db.models.count_documents({**LIVE, "created_at": {"$gte": today}}),
        downloads_today=_downloads_since(db, today),
    )


def popular(db: Collections, limit: int, since: datetime | None) -> list[tuple[ModelVersion, int]]:
    """Most downloaded first, ties newest (highest id) first: by the counter, or by counting the
    window's download events per version and joining the versions (``$lookup``)."""
    if limit <= 0:
        return []
    if since is None:
        found = db.models.find({**LIVE, "download_count": {"$gt": 0}}, {field: 0 for field in HIDDEN},
                               sort=[("download_count", -1), ("_id", -1)], limit=limit)
        return [(to_model(document), int(document["download_count"])) for document in found]
    rows = db.events.aggregate([
        {"$match": {"kind": EventKind.DOWNLOADED.value, "at": {"$gte": since}}},
        {"$group": {"_id": "$model_id", "downloads": {"$sum": 1}}},
        {"$lookup": {"from": MODELS, "localField": "_id", "foreignField": "_id", "as": "model"}},
        {"$unwind": "$model"},
        {"$match": {"model.deleting": {"$exists": False}}},
        {"$sort": {"downloads": -1, "_id": -1}},
        {"$limit": limit},
        {"$project": {f"model.{field}": 0 for field in HIDDEN}},
    ])
    return [(to_model(row["model"]), int(row["downloads"])) for row in rows]


def value_counts(db: Collections, field: str, limit: int) -> list[tuple[str, int]]:
    """Counted by the server over the live versions; tags, an array on each version's document,
    are unwound first (each version's tags are distinct: the registry deduplicates them)."""
    if limit <= 0:
        return []
    unwind = [{"$unwind": "$tags"}] if field == "tags" else []
    rows = db.models.aggregate([
        {"$match": LIVE},
        {"$project": {"_id": 0, field: 1}},
        *unwind,
        {"$group": {"_id": "$" + field, "count": {"$sum": 1}}},
        {"$sort": {"count": -1, "_id": 1}},
        {"$limit": limit},
    ])
    return [(row["_id"], int(row["count"])) for row in rows]


def downloads_by_day(db: Collections, since: datetime, until: datetime) -> dict[date, int]:
    """Download events in [since, until) from ``kind_at_idx``, grouped by the server by their
    day (``$dateToString`` without a time zone formats BSON's UTC times in UTC)."""
    rows = db.events.aggregate([
        {"$match": {"kind": EventKind.DOWNLOADED.value, "at": {"$gte": since, "$lt": until}}},
        {"$group": {"_id": {"$dateToString": {"format": "%Y-%m-%d", "date": "$at"}}, "count": {"$sum": 1}}},
    ])
    return {date.fromisoformat(row["_id"]): int(row["count"]) for row in rows}


def summary(db: Collections) -> dict[str, int]:
    return {"total_models": db.models.count_documents(LIVE),
            "active_models": db.models.count_documents({**LIVE, "status": "active"}),
            "stored_bytes": file_figures(db)["stored_bytes"]}


class MongoFigures(MongoBase):
    @translated
    def statistics(self, *, added_since: datetime, downloads_since: datetime, today: datetime) -> RegistryStats:
        return statistics(self.db, added_since=added_since, downloads_since=downloads_since, today=today)

    @translated
    def popular(self, limit: int, since: datetime | None = None) -> list[tuple[ModelVersion, int]]:
        return popular(self.db, limit, since)

    @translated
    def value_counts(self, field: str, limit: int) -> list[tuple[str, int]]:
        check_counted(field)
        return value_counts(self.db, field, limit)

    @translated
    def downloads_by_day(self, since: datetime, until: datetime) -> dict[date, int]:
        return downloads_by_day(self.db, since, until)

    @translated
    def summary(self) -> dict[str, int]:
        return summary(self.db)
