"""Rate limits: off unless a ``RATE_LIMIT_*`` setting is set.

``RATE_LIMIT_READ``, ``_WRITE``, ``_SEARCH`` and ``_DOWNLOAD`` limit their route class (see
:mod:`.middleware`), each with counts of its own; ``RATE_LIMIT_DEFAULT`` limits every class
without a setting of its own, and those classes share one count. ``off`` exempts a class from the
default. The seed's limits are ``RATE_LIMIT_DEFAULT='100 per hour'`` and
``RATE_LIMIT_DOWNLOAD='10 per minute'``.

Counts live in this process's memory (:class:`~.limiter.MemoryCounter`), or, with ``REDIS_URL``,
in Redis, shared by every replica (:mod:`.shared`, which also says what happens when Redis is
down).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from ...config import Settings
from ...rates import Rate, parse_rate
from ..metrics import ServiceMetrics
from .limiter import ROUTE_CLASSES, Client, Counts, Decision, MemoryCounter, RateLimiter, RateLimitMetrics
from .middleware import RateLimitMiddleware, RouteClassifier
from .shared import PREFIX, FallbackCounter, RedisCounter

__all__ = [
    "ROUTE_CLASSES",
    "Client",
    "Decision",
    "FallbackCounter",
    "MemoryCounter",
    "RateLimitMiddleware",
    "RateLimiter",
    "RedisCounter",
    "RouteClassifier",
    "build_rate_limiter",
    "limits_from_settings",
]

log = logging.getLogger("model_service.ratelimit")


def limits_from_settings(settings: Settings) -> dict[str, tuple[str, Rate]]:
    """Route class → (bucket, rate) for every limited class; empty when rate limits are off."""
    default = parse_rate(settings.rate_limit_default) if settings.rate_limit_default else None
    limits: dict[str, tuple[str, Rate]] = {}
    for route_class in ROUTE_CLASSES:
        own = getattr(settings, f"rate_limit_{route_class}")
        rate, bucket = (parse_rate(own), route_class) if own is not None else (default, "default")
        if rate is not None:
            limits[route_class] = (bucket, rate)
    return limits


def build_rate_limiter(settings: Settings, *, metrics: ServiceMetrics | None = None,
                       clock: Callable[[], float] = time.time, redis_prefix: str = PREFIX) -> RateLimiter | None:
    """The limiter the settings ask for, or None when no limit is set.

    API keys identify clients only when they are checked (``ENABLE_AUTH``)."""
    limits = limits_from_settings(settings)
    if not limits:
        return None
    limiter_metrics = RateLimitMetrics(metrics.registry) if metrics is not None else None
    local = MemoryCounter()
    counter: Counts = local
    if settings.redis_url:
        counter = FallbackCounter(RedisCounter(settings.redis_url, prefix=redis_prefix), local,
                                  on_fallback=limiter_metrics.fallbacks.inc if limiter_metrics else None)
    elif settings.workers > 1:
        log.warning("Rate limits are counted in each of the %d worker processes: set REDIS_URL to share them",
                    settings.workers)
    return RateLimiter(limits, counter, clock=clock, metrics=limiter_metrics,
                       trust_keys=settings.enable_auth)
