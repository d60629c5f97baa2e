"""Stored verdicts in MongoDB: the versions whose file's scan is stale, by a query on
``file_metadata.scan``'s fields in keyset pages, and a new verdict written by a compare-and-swap
on the version's ``rev`` with its event in the document's outbox (one single-document write)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ReturnDocument

from ...domain.audit import AuditHook
from ...domain.models import ModelVersion
from ...domain.plans.retry import Contended
from ...domain.plans.scans import plan_rescan
from ...domain.plans.updates import changing
from ...domain.ports.scans import ScanReference
from ...domain.rescanning import Staleness
from ...domain.scanning import ScanResult, Verdict
from .base import MongoBase
from .documents import outbox_document, read, stamp, to_model
from .errors import translated
from .outbox import pushed
from .schema import LIVE, Collections, live

_SCAN = "file_metadata.scan"
_LOWEST_ID = "0" * 24
_PROJECTION = {"file_metadata": 1, "name": 1, "version": 1}


def stale(criteria: Staleness) -> dict[str, Any]:
    """:meth:`Staleness.why` is not None, as a MongoDB condition (a missing field is null here)."""
    conditions: list[dict[str, Any]] = [
        {f"{_SCAN}.verdict": None},  # no scan stored
        {f"{_SCAN}.scanner": {"$ne": None}, f"{_SCAN}.scanner_version": {"$ne": criteria.scanner_version}},
    ]
    if criteria.reasons:
        conditions.append({f"{_SCAN}.verdict": Verdict.UNSCANNED.value,
                           f"{_SCAN}.reason": {"$in": sorted(criteria.reasons)}})
    return {"$or": conditions}


def _after(after: tuple[str, str] | None) -> list[dict[str, Any]]:
    """The keyset condition of the page after ``after`` in (sha256, _id) order (none: from the start)."""
    if after is None:
        return []
    sha256, model_id = after
    later: list[dict[str, Any]] = [{"file_metadata.sha256": {"$gt": sha256}}]
    if ObjectId.is_valid(model_id) and len(model_id) == 24:
        later.append({"file_metadata.sha256": sha256, "_id": {"$gt": ObjectId(model_id)}})
    elif model_id < _LOWEST_ID:  # before every id ("" included): the whole of that sha256's group
        later.append({"file_metadata.sha256": sha256})
    return [{"$or": later}]


def _files_to_rescan(db: Collections, criteria: Staleness, after: tuple[str, str] | None,
                     limit: int) -> list[ScanReference]:
    """Served by the ``file_metadata.sha256`` index, filtered as it is walked."""
    if limit <= 0:
        return []
    condition = {"$and": [{"file_metadata.sha256": {"$type": "string"}, **LIVE}, stale(criteria), *_after(after)]}
    found = db.models.find(condition, _PROJECTION, sort=[("file_metadata.sha256", 1), ("_id", 1)], limit=limit)
    references = []
    for document in found:
        file = document["file_metadata"]
        scan = file.get("scan")
        references.append(ScanReference(sha256=file["sha256"], model_id=str(document["_id"]), name=document["name"],
                                        version=document["version"], format=file.get("format"),
                                        size_bytes=int(file["size_bytes"]),
                                        scan=None if scan is None else ScanResult.from_json(scan)))
    return references


class MongoScans(MongoBase):
    @translated
    def files_to_rescan(self, stale: Staleness, after: tuple[str, str] | None = None,
                        limit: int = 500) -> list[ScanReference]:
        return _files_to_rescan(self.db, stale, after, limit)

    @translated
    def record_scan(self, model_id: str, expected: ScanResult | None, scan: ScanResult, actor: str, at: datetime,
                    audit: AuditHook | None = None) -> ModelVersion:
        def attempt() -> ModelVersion:
            """One compare-and-swap on ``rev``: a re-scan, an update or a deletion begun since the
            read is :class:`Contended`, and the next attempt compares the scan read afresh."""
            document = live(self.db, model_id, read())
            plan = plan_rescan(to_model(document), expected, scan, actor, stamp(at))
            event = outbox_document(plan.event)
            written = self.db.models.find_one_and_update(
                {"_id": document["_id"], "rev": document.get("rev"), **LIVE},
                {"$set": {_SCAN: scan.to_json()}, "$inc": {"rev": 1}, "$push": pushed([event])},
                read(), return_document=ReturnDocument.AFTER)
            if written is None:
                raise Contended()
            self._publish(document["_id"], document["name"], [event])
            return to_model(written)

        return self._audited(audit, changing(model_id, attempt))
