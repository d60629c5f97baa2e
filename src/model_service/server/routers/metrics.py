"""``/metrics``: the Prometheus scrape (text format, or OpenMetrics if the scraper asks for it)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from ..auth import PUBLIC

router = APIRouter(tags=["health"])


@router.get(
    "/metrics",
    dependencies=[PUBLIC],  # Prometheus scrapes it without a key
    response_class=Response,
    summary="Prometheus metrics",
    responses={200: {"description": "Metrics in the Prometheus text format",
                     "content": {"text/plain": {"schema": {"type": "string"}}}}},
)
async def scrape(request: Request) -> Response:
    metrics = request.app.state.metrics
    # A worker thread: the store figures may need a query (cached a few seconds).
    body, content_type = await run_in_threadpool(metrics.exposition, request.headers.get("accept"))
    return Response(body, headers={"Content-Type": content_type, "Cache-Control": "no-store"})
