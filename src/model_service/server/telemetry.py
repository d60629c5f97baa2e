"""Per-request telemetry: what the request middleware records once a request is answered.

The request is named by its route template (``/api/v1/models/{model_id}``), never its path.
Starlette leaves the matched route in ``scope["route"]``; requests answered before routing (a
413 on a declared length, a CORS preflight) or by routes that do not set it are matched here
against the app's routes, and a path that matches none is ``unmatched``.

``/metrics`` and ``/health`` (scrapes and liveness probes) are counted in
``api_requests_total`` but not observed in ``api_request_duration_seconds``: they would add
series and dilute nothing useful, and Prometheus times its own scrapes. Their access lines are
logged at DEBUG unless they fail.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from starlette.routing import BaseRoute, Match
from starlette.types import Scope

from .logs import AccessLog
from .metrics import UNMATCHED, ServiceMetrics, method_label

QUIET_ROUTES = frozenset({"/metrics", "/health"})


class RequestTelemetry:
    """Called by the request middleware as ``telemetry(scope, status, seconds, bytes_out, request_id)``."""

    def __init__(
        self,
        *,
        metrics: ServiceMetrics | None,
        access_log: AccessLog | None,
        routes: Callable[[], Iterable[BaseRoute]],
        quiet_routes: frozenset[str] = QUIET_ROUTES,
    ):
        self.metrics = metrics
        self.access_log = access_log
        self.routes = routes
        self.quiet_routes = quiet_routes
        # (route, method, status) → (counter, histogram or None): label lookups once per series
        self._series: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def __call__(self, scope: Scope, status: int, duration: float, bytes_out: int, request_id: str) -> None:
        route = getattr(scope.get("route"), "path_format", None) or self.route_of(scope)
        if self.metrics is not None:
            key = (route, method_label(scope["method"]), status)
            series = self._series.get(key)
            if series is None:
                series = self._series[key] = self._new_series(*key)
            series[0].inc()
            if series[1] is not None:
                series[1].observe(duration)
        if self.access_log is not None:
            self.access_log(scope, route, status, duration, bytes_out, request_id)

    def _new_series(self, route: str, method: str, status: int) -> tuple[Any, Any]:
        assert self.metrics is not None
        labels = (route, method, str(status))
        histogram = None if route in self.quiet_routes else self.metrics.request_duration.labels(*labels)
        return self.metrics.requests.labels(*labels), histogram

    def route_of(self, scope: Scope) -> str:
        """The template of the route that matches ``scope`` fully, else partially (wrong method),
        else ``unmatched``."""
        partial = None
        for route in self.routes():
            template = getattr(route, "path_format", None)
            if template is None:
                continue
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return template
            if match is Match.PARTIAL and partial is None:
                partial = template
        return partial or UNMATCHED
