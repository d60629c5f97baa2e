"""Builders for store-level test data."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from model_service.domain.ids import new_id
from model_service.domain.models import LATEST, Draft, FileInfo, Status
from model_service.domain.uploads import Upload

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


def accepted(content: bytes, info: FileInfo, temp: object) -> Upload:
    """A finished upload of ``content`` into ``temp`` (a ``TempBlob``), accepted as ``info``."""
    upload = Upload(temp, max_size=len(content) + 1)
    upload.write(content)
    upload.finish()
    upload.accept(info)
    return upload


class RecordingBlob:
    """The temporary blob of an upload, whose commit is recorded (and can be made to fail)."""

    def __init__(self, content: bytes = b"weights", *, fail: bool = False, created: bool = True):
        self.info = file_info(content)
        self.fail = fail
        self.created = created
        self.commits = 0

        self.content = content

    def write(self, data: bytes) -> None:
        pass

    def finish(self) -> None:
        pass

    def commit(self, key: str) -> bool:
        assert key == self.info.sha256
        self.commits += 1
        if self.fail:
            raise OSError("disk on fire")
        return self.created

    def abort(self) -> None:
        pass

    @property
    def upload(self) -> Upload:
        """An accepted upload of the content, committed through this blob."""
        return accepted(self.content, self.info, self)


def later(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)
