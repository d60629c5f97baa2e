"""Builders for store-level test data."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from model_service.domain.ids import new_id
from model_service.domain.models import Draft, FileInfo, Status
from model_service.domain.ports import LATEST, PendingBlob

T0 = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)


def draft(name: str = "fraud", *, parent: str | None = LATEST, breaking: bool = False, at: datetime = T0,
          **fields) -> Draft:
    values = dict(
        id=new_id(at.timestamp()),
        name=name,
        algorithm="xgboost",
        hyperparameters={"max_depth": 6, "nested": {"list": [1, 2.5, "x"], "none": None}},
        metrics={"accuracy": 0.97, "f1_score": 0.95},
        dataset_info={"name": "transactions", "rows": 500_000, "note": "ünïcödé ✓"},
        tags=("production", "fraud"),
        description="a model",
        created_by="alice",
        status=Status.ACTIVE,
        format="pickle",
        parent_model_id=parent,
        breaking=breaking,
        created_at=at,
    )
    values.update(fields)
    return Draft(**values)


def file_info(content: bytes, at: datetime = T0) -> FileInfo:
    return FileInfo(sha256=hashlib.sha256(content).hexdigest(), size_bytes=len(content), format="pickle",
                    filename="model.pkl", content_type="application/octet-stream", uploaded_at=at)


class RecordingBlob:
    """A PendingBlob whose commit is recorded (and can be made to fail)."""

    def __init__(self, content: bytes = b"weights", *, fail: bool = False, created: bool = True):
        self.info = file_info(content)
        self.fail = fail
        self.created = created
        self.commits = 0

    def commit(self) -> bool:
        self.commits += 1
        if self.fail:
            raise OSError("disk on fire")
        return self.created

    @property
    def pending(self) -> PendingBlob:
        return PendingBlob(file=self.info, commit=self.commit)


def later(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)
