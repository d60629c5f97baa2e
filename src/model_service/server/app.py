"""The application factory: settings in, a ready app out (stores built, schema checked)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from starlette.routing import Match
from starlette.types import Scope

from .. import __version__
from ..config import Settings, load_settings
from ..domain.registry import Registry
from ..scanner.service import build_scanner
from ..stores import BackendOptions, build_blob_store, build_metadata_store
from . import auth, errors
from .inflight import InFlightRequests, RequestTracker
from .instrument import timed
from .logs import AccessLog, configure_logging
from .metrics import ServiceMetrics, backend_info
from .middleware import BodyLimitMiddleware, RequestIdMiddleware
from .ratelimit import RateLimiter, RateLimitMiddleware, RouteClassifier, build_rate_limiter
from .rescan import background_rescan
from .response_headers import SecurityHeadersMiddleware, security_headers
from .routers import audit as audit_route
from .routers import discovery, files, health, keys, models, names
from .routers import metrics as metrics_route
from .telemetry import QUIET_ROUTES, RequestTelemetry
from .ui import STREAMING_ROUTES as UI_STREAMING_ROUTES
from .ui import build_router as build_ui_router
from .ui import install as install_ui
from .ui.figures import Figures

log = logging.getLogger("model_service")

UNWIND_SECONDS = 5.0  # at shutdown, how long requests cut by a stop get to clean up before the stores close

EXPOSED_HEADERS = ["X-Request-ID", "X-File-Checksum", "X-Model-Id", "X-Model-Algorithm", "X-Model-Version",
                   "ETag", "Content-Disposition", "Content-Range", "Accept-Ranges", "Location", "X-Model-Scan",
                   "Retry-After", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"]


def build_registry(settings: Settings, metrics: ServiceMetrics | None = None) -> Registry:
    """Build both stores from the settings and check them; fails fast with a clear message.

    With ``metrics``, every store method is timed and the registry reports what it does."""
    options = BackendOptions.from_settings(settings)
    metadata = build_metadata_store(settings.resolved_database_url, options)
    try:
        metadata.prepare(migrate=settings.should_migrate)
        blobs = build_blob_store(settings.resolved_blob_store_url, options)
    except BaseException:
        metadata.close()
        raise
    scanner, reject_unsafe = build_scanner(settings), settings.reject_unsafe_models
    if metrics is None:
        return Registry(metadata, blobs, max_file_size=settings.max_file_size, scanner=scanner,
                        reject_unsafe=reject_unsafe)
    return Registry(timed(metadata, "metadata", metrics), timed(blobs, "blob", metrics),
                    max_file_size=settings.max_file_size, observer=metrics.observer(), scanner=scanner,
                    reject_unsafe=reject_unsafe)


def create_app(settings: Settings | None = None, *, registry: Registry | None = None,
               metrics: ServiceMetrics | None = None, rate_limiter: RateLimiter | None = None) -> FastAPI:
    """The app. A ``registry`` given is measured only if it was built with the same ``metrics``;
    a ``rate_limiter`` given replaces the one the settings describe (if any)."""
    settings = settings or load_settings()
    metrics = metrics or ServiceMetrics(info=backend_info(settings.resolved_database_url,
                                                          settings.resolved_blob_store_url))
    registry = registry or build_registry(settings, metrics)

    def store_summary() -> dict[str, int]:
        return registry.metadata.summary()  # looked up at each scrape, not bound once here

    metrics.watch_store(store_summary)
    rate_limiter = rate_limiter or build_rate_limiter(settings, metrics=metrics)

    authentication = auth.build_authentication(settings, registry)
    in_flight = RequestTracker()
    rescanning = background_rescan(settings, registry, metrics)  # RESCAN_INTERVAL (server/rescan.py)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:  # Starlette passes the app positionally
        auth.startup_warnings(settings, authentication)
        if rescanning is not None:
            rescanning.start()
        yield
        if rescanning is not None:
            rescanning.stop()  # before its next file
        # after the last request in flight, or the grace period of a stop (see server/lifecycle.py)
        await in_flight.settle(timeout=UNWIND_SECONDS)
        if rescanning is not None and not await asyncio.to_thread(rescanning.join, UNWIND_SECONDS):
            log.warning("The background re-scan is still scanning a file; closing the stores anyway")
        try:
            if rate_limiter is not None:
                await rate_limiter.aclose()
        finally:
            try:
                registry.metadata.close()
            finally:
                registry.blobs.close()
        log.info("Stores closed")

    app = FastAPI(
        title="TensorFleet Model Service",
        version=__version__,
        description="A registry for trained ML models: metadata, versions and files.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.registry = registry
    app.state.metrics = metrics
    app.state.auth = authentication
    app.state.rescan = rescanning
    app.state.ui_figures = Figures(registry)  # the web UI's cached figures (server/ui/figures.py)
    errors.install(app)
    install_ui(app)  # pages rather than JSON for errors under /ui
    # The busiest routes first: a request is matched against the routes in order. Fixed paths
    # (/models/search, /models/by-name/…) may follow /models/{model_id}: an id is 24 hex digits.
    routers = [models.build_router(), files.build_router(), health.router, metrics_route.router,
               discovery.build_router(), names.build_router(), keys.build_router(),
               audit_route.build_router(), build_ui_router(app.state.ui_figures)]
    for router in routers:
        app.include_router(router)
    # FastAPI keeps included routers as units; this flat list is for lookups by path.
    app.state.api_routes = [route for router in routers for route in router.routes if isinstance(route, APIRoute)]
    # Added innermost first: request ids wrap everything, so every answer carries one.
    app.add_middleware(InFlightRequests, tracker=in_flight)
    app.add_middleware(BodyLimitMiddleware, limit=settings.max_request_size,
                       upload_limit=settings.max_file_size + settings.max_request_size,
                       is_upload=_route_matcher(app.state.api_routes,
                                                models.STREAMING_ROUTES | files.STREAMING_ROUTES | UI_STREAMING_ROUTES))
    if rate_limiter is not None:  # outside the body limit (refuse before reading), inside CORS (so pages see a 429)
        app.add_middleware(RateLimitMiddleware, limiter=rate_limiter, classify=RouteClassifier(app.state.api_routes))
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["*"],
                           allow_headers=["*"], expose_headers=EXPOSED_HEADERS)
    telemetry = RequestTelemetry(metrics=metrics, routes=lambda: [*app.router.routes, *app.state.api_routes],
                                 access_log=AccessLog(quiet_routes=QUIET_ROUTES) if settings.access_log else None)
    app.add_middleware(RequestIdMiddleware, telemetry=telemetry)
    # Outermost, so that every answer (errors, 429s, CORS preflights, the last-resort 500) gets
    # the security headers and no header value can split the header block: keep it added last.
    api_headers, docs_headers = security_headers(settings)
    app.add_middleware(SecurityHeadersMiddleware, headers=api_headers, docs_headers=docs_headers,
                       docs_paths=[path for path in (app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url)
                                   if path])

    @app.get("/", include_in_schema=False, dependencies=[auth.PUBLIC])
    async def index(request: Request) -> Response:
        """Where things are, as JSON; a browser (which asks for HTML) goes to the web UI."""
        if "text/html" in request.headers.get("accept", ""):
            return RedirectResponse("/ui", status_code=307)
        return JSONResponse({"service": "model-service", "version": __version__, "api": "/api/v1/models",
                             "ui": "/ui", "docs": "/docs", "openapi": "/openapi.json", "health": "/health"})

    auth.check_declared(app)  # every route says who may call it
    auth.document_auth(app, authentication)

    return app


def _route_matcher(api_routes: list[APIRoute], names: frozenset[str]):
    """Whether a request goes to one of the named routes (path and method)."""
    routes = [route for route in api_routes if route.name in names]
    assert len(routes) == len(names), "a streaming route is missing"

    def matches(scope: Scope) -> bool:
        return any(route.matches(scope)[0] is Match.FULL for route in routes)

    return matches


def app_from_environment() -> FastAPI:
    """Entry point for ``uvicorn --factory`` (and worker processes)."""
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    return create_app(settings)
