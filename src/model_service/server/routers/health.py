"""``/health`` (liveness, touches nothing) and ``/health/detailed`` (every backend; 503 if one fails)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from .. import health
from ..auth import PUBLIC, READ
from ..deps import RegistryDep, SettingsDep
from ..schemas import ErrorOut

router = APIRouter(tags=["health"])


@router.get("/health", summary="Liveness: the process answers", dependencies=[PUBLIC])
async def liveness() -> dict[str, Any]:
    return health.liveness()


@router.get("/health/detailed", summary="Readiness: database, blob store, disk space, registry integrity",
            dependencies=[READ],  # it names paths and backends: a read like any other
            responses={503: {"description": "A check failed; `issues` names it"},
                       **{status: {"model": ErrorOut} for status in (401, 403, 422)}})
async def detailed(registry: RegistryDep, settings: SettingsDep) -> JSONResponse:
    body, healthy = await run_in_threadpool(health.detailed, registry, settings)
    return JSONResponse(body, status_code=200 if healthy else 503)
