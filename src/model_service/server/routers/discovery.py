"""Finding models: listing and search, statistics, popular and recent versions, comparison."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from ...domain.models import Status
from ...domain.query import SimpleFilters, as_utc
from ..auth import READ
from ..deps import RegistryDep, SettingsDep
from ..discovery_schemas import (
    CompareOut,
    ModelStatisticsOut,
    PlatformStatisticsOut,
    PopularModelOut,
    PopularOut,
    RecentOut,
    compare_out,
    model_statistics_out,
    platform_statistics_out,
)
from ..params import Instant
from ..schemas import ErrorOut, ModelListOut, Pagination, model_out

ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": ErrorOut} for code in (400, 401, 403, 404, 422, 429, 503)}

FILTER_HELP = (
    "Filter expression: comparisons (= != < <= > >=) on fields, metrics.<name> and hyperparameters.<name>, "
    "IN (...), LIKE / ILIKE 'pattern%', IS [NOT] NULL, AND, OR, NOT and parentheses. Example: "
    "metrics.f1_score >= 0.9 AND (algorithm = 'xgboost' OR tags = 'production')"
)
SORT_HELP = "Comma-separated keys, '-' for descending: -metrics.f1_score,name. Default -created_at"


def _comma_list(value: str | None) -> tuple[str, ...]:
    return tuple(item.strip() for item in (value or "").split(",") if item.strip())


def _utc(value: datetime | None, parameter: str) -> datetime | None:
    return None if value is None else as_utc(value, parameter)


async def _search(
    registry: RegistryDep,
    settings: SettingsDep,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    limit: Annotated[int, Query(ge=1, description="Capped at MAX_PAGE_SIZE")] = 20,
    algorithm: Annotated[str | None, Query(max_length=128)] = None,
    status: Annotated[Status | None, Query()] = None,
    tags: Annotated[str | None, Query(max_length=4096, description="Comma list: any of these tags")] = None,
    tags_all: Annotated[str | None, Query(max_length=4096, description="Comma list: all of these tags")] = None,
    q: Annotated[str | None, Query(max_length=256, description="Text in name, algorithm, description, tags")] = None,
    min_accuracy: Annotated[float | None, Query(description="On test_accuracy, else accuracy, …")] = None,
    name: Annotated[str | None, Query(max_length=128)] = None,
    created_by: Annotated[str | None, Query(max_length=256)] = None,
    created_after: Annotated[Instant | None, Query(description="ISO 8601; inclusive")] = None,
    created_before: Annotated[Instant | None, Query(description="ISO 8601; exclusive")] = None,
    filter: Annotated[str | None, Query(max_length=4096, description=FILTER_HELP)] = None,
    sort: Annotated[str | None, Query(max_length=512, description=SORT_HELP)] = None,
) -> ModelListOut:
    limit = min(limit, settings.max_page_size)
    filters = SimpleFilters(
        algorithm=algorithm, status=None if status is None else status.value, name=name, created_by=created_by,
        tags=_comma_list(tags), tags_all=_comma_list(tags_all), q=q, min_accuracy=min_accuracy,
        created_after=_utc(created_after, "created_after"), created_before=_utc(created_before, "created_before"),
    )
    result = await run_in_threadpool(registry.search, filters, filter_text=filter, sort_text=sort, page=page,
                                     limit=limit)
    return ModelListOut(
        models=[model_out(m) for m in result.items],
        pagination=Pagination(page=page, limit=limit, total=result.total, pages=-(-result.total // limit)),
    )


def build_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["discovery"], responses=ERRORS, dependencies=[READ])  # reads only

    router.add_api_route("/models", _search, methods=["GET"], response_model=ModelListOut, name="list_models",
                         summary="List and search versions (newest first unless sorted)")
    router.add_api_route("/models/search", _search, methods=["GET"], response_model=ModelListOut,
                         name="search_models", summary="Search versions: the seed's parameters plus filter and sort")

    @router.get("/models/statistics", response_model=ModelStatisticsOut, summary="Registry statistics")
    async def model_statistics(registry: RegistryDep) -> ModelStatisticsOut:
        return model_statistics_out(await run_in_threadpool(registry.statistics))

    @router.get("/statistics", response_model=PlatformStatisticsOut, summary="Platform statistics")
    async def platform_statistics(registry: RegistryDep) -> PlatformStatisticsOut:
        return platform_statistics_out(await run_in_threadpool(registry.statistics))

    @router.get("/models/popular", response_model=PopularOut, summary="Most downloaded versions")
    async def popular(
        registry: RegistryDep,
        limit: Annotated[int, Query(ge=1, le=100)] = 10,
        days: Annotated[int | None, Query(ge=1, le=3650, description="Count downloads of the last N days")] = None,
    ) -> PopularOut:
        ranked = await run_in_threadpool(registry.popular, limit, days)
        return PopularOut(window_days=days, models=[
            PopularModelOut(**model_out(model).__dict__, downloads=count) for model, count in ranked])

    @router.get("/models/recent", response_model=RecentOut, summary="Most recently registered versions")
    async def recent(registry: RegistryDep, limit: Annotated[int, Query(ge=1, le=100)] = 10) -> RecentOut:
        return RecentOut(models=[model_out(m) for m in await run_in_threadpool(registry.recent, limit)])

    @router.get("/models/compare", response_model=CompareOut,
                summary="Metrics and hyperparameters of 2-10 versions side by side")
    async def compare(
        registry: RegistryDep,
        ids: Annotated[str, Query(max_length=1024, description="Comma-separated version ids")],
    ) -> CompareOut:
        return compare_out(await run_in_threadpool(registry.compare, _comma_list(ids)))

    return router
