"""Response bodies of search, statistics, comparison and the name/alias endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..domain.compare import Comparison
from ..domain.models import Alias, AliasMove, Event, RegistryStats
from .schemas import ModelOut, human_size

GIB, MIB = 1024**3, 1024**2


# ---- statistics ------------------------------------------------------------------------------

class StorageUsage(BaseModel):
    total_size_gb: float
    average_model_size_mb: float


class RecentActivity(BaseModel):
    models_added_last_7_days: int
    downloads_last_24_hours: int


class ModelStatisticsOut(BaseModel):
    """The seed's first statistics example (``GET /api/v1/models/statistics``)."""

    total_models: int
    algorithms: dict[str, int]
    status_distribution: dict[str, int]
    total_downloads: int
    storage_usage: StorageUsage
    recent_activity: RecentActivity


class StorageStats(BaseModel):
    total_size: str
    average_model_size: str
    total_size_bytes: int
    average_model_size_bytes: int


class ActivityToday(BaseModel):
    models_created_today: int
    models_downloaded_today: int = Field(description="Downloads since midnight UTC")


class PlatformStatisticsOut(BaseModel):
    """The seed's second statistics example (``GET /api/v1/statistics``)."""

    total_models: int
    models_by_algorithm: dict[str, int]
    models_by_status: dict[str, int]
    storage_stats: StorageStats
    recent_activity: ActivityToday


def _average(stats: RegistryStats) -> float:
    return stats.file_bytes / stats.versions_with_file if stats.versions_with_file else 0.0


def model_statistics_out(stats: RegistryStats) -> ModelStatisticsOut:
    return ModelStatisticsOut(
        total_models=stats.total_models,
        algorithms=stats.by_algorithm,
        status_distribution=stats.by_status,
        total_downloads=stats.total_downloads,
        storage_usage=StorageUsage(total_size_gb=round(stats.stored_bytes / GIB, 3),
                                   average_model_size_mb=round(_average(stats) / MIB, 3)),
        recent_activity=RecentActivity(models_added_last_7_days=stats.added_since,
                                       downloads_last_24_hours=stats.downloads_since),
    )


def platform_statistics_out(stats: RegistryStats) -> PlatformStatisticsOut:
    average = _average(stats)
    return PlatformStatisticsOut(
        total_models=stats.total_models,
        models_by_algorithm=stats.by_algorithm,
        models_by_status=stats.by_status,
        storage_stats=StorageStats(total_size=human_size(stats.stored_bytes),
                                   average_model_size=human_size(int(average)),
                                   total_size_bytes=stats.stored_bytes, average_model_size_bytes=int(average)),
        recent_activity=ActivityToday(models_created_today=stats.created_today,
                                      models_downloaded_today=stats.downloads_today),
    )


# ---- popular, recent, compare ------------------------------------------------------------------

class PopularModelOut(ModelOut):
    downloads: int = Field(description="Downloads in the window (all time: download_count)")


class PopularOut(BaseModel):
    window_days: int | None
    models: list[PopularModelOut]


class RecentOut(BaseModel):
    models: list[ModelOut]


class ComparedModel(BaseModel):
    id: str
    name: str
    version: str
    algorithm: str
    status: str


class BestOut(BaseModel):
    model_ids: list[str]
    value: float
    direction: str = Field(description="max: higher is better; min: lower is better (loss, error, …)")


class Differences(BaseModel):
    metrics: list[str]
    hyperparameters: list[str]


class CompareOut(BaseModel):
    models: list[ComparedModel]
    metrics: dict[str, dict[str, float | None]] = Field(description="metric → model id → value")
    hyperparameters: dict[str, dict[str, Any]] = Field(description="parameter → model id → value")
    differences: Differences
    best: dict[str, BestOut]


def compare_out(comparison: Comparison) -> CompareOut:
    return CompareOut(
        models=[ComparedModel(id=m.id, name=m.name, version=str(m.version), algorithm=m.algorithm,
                              status=m.status.value) for m in comparison.models],
        metrics=comparison.metrics,
        hyperparameters=comparison.hyperparameters,
        differences=Differences(metrics=list(comparison.differing_metrics),
                                hyperparameters=list(comparison.differing_hyperparameters)),
        best={k: BestOut(model_ids=list(b.model_ids), value=b.value, direction=b.direction)
              for k, b in comparison.best.items()},
    )


# ---- names, aliases, history ------------------------------------------------------------------------

class AliasOut(BaseModel):
    alias: str
    version: str
    model_id: str
    updated_at: datetime
    updated_by: str


def alias_out(alias: Alias) -> AliasOut:
    return AliasOut(alias=alias.alias, version=str(alias.version), model_id=alias.model_id,
                    updated_at=alias.updated_at, updated_by=alias.updated_by)


class AliasesOut(BaseModel):
    name: str
    aliases: list[AliasOut]


class AliasMoveIn(BaseModel):
    """Where the alias should point: ``version`` (``v1.2`` or ``latest``) or ``model_id``, one of
    them. ``expected_version`` makes the move a compare-and-swap: the alias must currently point
    at that version (``null``: must not be set), else 409 and nothing changes. Leave it out to
    move unconditionally."""

    model_config = ConfigDict(extra="forbid", strict=True)

    version: str | None = None
    model_id: str | None = None
    expected_version: str | None = None


class AliasMoveOut(BaseModel):
    success: bool = True
    name: str
    alias: str
    version: str | None
    model_id: str | None
    previous_version: str | None
    previous_model_id: str | None


def alias_move_out(move: AliasMove) -> AliasMoveOut:
    return AliasMoveOut(
        name=move.name, alias=move.alias,
        version=None if move.after is None else str(move.after.version),
        model_id=None if move.after is None else move.after.model_id,
        previous_version=None if move.before is None else str(move.before.version),
        previous_model_id=None if move.before is None else move.before.model_id,
    )


class AliasAtOut(BaseModel):
    name: str
    alias: str
    at: datetime
    version: str
    model_id: str
    since: datetime = Field(description="When the alias was moved to this version")
    moved_by: str


class NameOut(BaseModel):
    name: str
    versions: list[ModelOut]
    aliases: dict[str, str] = Field(description="alias → version")
    pagination: dict[str, int]


class NameEventOut(BaseModel):
    kind: str
    model_id: str
    actor: str
    at: datetime
    data: dict[str, Any]


def name_event_out(event: Event) -> NameEventOut:
    return NameEventOut(kind=event.kind.value, model_id=event.model_id, actor=event.actor, at=event.at,
                        data=event.data)


class NameHistoryOut(BaseModel):
    name: str
    events: list[NameEventOut]
