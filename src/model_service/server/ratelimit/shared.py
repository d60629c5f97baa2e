"""Counts that replicas share, in Redis, and what happens when Redis does not answer.

:class:`RedisCounter` keeps each window's count under ``<prefix><bucket>:<client>:<window>``
(the client is ``key:<sha256 of the API key>`` or ``ip:<address>``: never a key itself). One
``MULTI``/``EXEC`` round trip increments it and sets its expiry to the end of its window, so
concurrent replicas never count past each other and Redis forgets every count when its window
ends.

:class:`FallbackCounter` is what the limiter uses with ``REDIS_URL``: Redis, unless it cannot be
reached (refused, timed out after :data:`TIMEOUT` seconds, or answering errors). Then the request
is counted in this process's memory instead (limits then hold per replica, not across them: never
a 500, never unlimited), a warning is logged and ``rate_limit_fallbacks_total`` counts it; Redis
is tried again :data:`RETRY_AFTER` seconds later, not on every request.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable

from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from .limiter import CounterUnavailable, Counts

log = logging.getLogger("model_service.ratelimit")

PREFIX = "tensorfleet:ratelimit:"
TIMEOUT = 0.5
RETRY_AFTER = 5.0


class RedisCounter:
    """Counts in Redis (``redis.asyncio``; one client per event loop, made on first use)."""

    def __init__(self, url: str, *, prefix: str = PREFIX, timeout: float = TIMEOUT):
        ConnectionPool.from_url(url)  # a malformed URL fails here, at start-up, not on a request
        self.url = url
        self.prefix = prefix
        self.timeout = timeout
        self._redis: Redis | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _client(self) -> Redis:
        loop = asyncio.get_running_loop()
        if self._redis is None or self._loop is not loop:
            # One immediate retry on a fresh connection (a pooled one may have been closed by a
            # Redis restart), then give up: the fallback answers.
            self._redis = Redis.from_url(self.url, socket_timeout=self.timeout,
                                         socket_connect_timeout=self.timeout, retry=Retry(NoBackoff(), 1))
            self._loop = loop
        return self._redis

    async def incr(self, key: str, expires_at: float, now: float, peek: str | None = None) -> tuple[int, int]:
        name = self.prefix + key
        # Until the end of the window, and a second more for replicas whose clocks run late.
        ttl_ms = max(1, math.ceil((expires_at - now) * 1000)) + 1000
        try:
            async with self._client().pipeline(transaction=True) as pipe:
                pipe.incr(name)
                pipe.pexpire(name, ttl_ms)
                if peek is not None:
                    pipe.get(self.prefix + peek)
                results = await pipe.execute()
        except (TimeoutError, RedisError, OSError) as exc:
            raise CounterUnavailable(f"Redis did not answer ({type(exc).__name__}: {exc})") from exc
        peeked = results[2] if peek is not None else None
        return int(results[0]), int(peeked) if peeked is not None else 0

    async def aclose(self) -> None:
        redis, self._redis = self._redis, None
        if redis is not None and self._loop is asyncio.get_running_loop():
            await redis.aclose()


class FallbackCounter:
    """``primary`` (Redis), or ``fallback`` (memory) while ``primary`` is unavailable; see the module."""

    def __init__(self, primary: Counts, fallback: Counts, *, retry_after: float = RETRY_AFTER,
                 on_fallback: Callable[[], None] | None = None):
        self.primary = primary
        self.fallback = fallback
        self.retry_after = retry_after
        self.on_fallback = on_fallback
        self._down_until: float | None = None  # the limiter's clock

    async def incr(self, key: str, expires_at: float, now: float, peek: str | None = None) -> tuple[int, int]:
        if self._down_until is None or now >= self._down_until:
            try:
                result = await self.primary.incr(key, expires_at, now, peek)
            except CounterUnavailable as exc:
                if self._down_until is None:
                    log.warning("Rate limits: %s; counting in this process until it does", exc)
                self._down_until = now + self.retry_after
            else:
                if self._down_until is not None:
                    log.info("Rate limits: Redis answers again; counting there")
                    self._down_until = None
                return result
        if self.on_fallback is not None:
            self.on_fallback()
        return await self.fallback.incr(key, expires_at, now, peek)

    async def aclose(self) -> None:
        await self.primary.aclose()
        await self.fallback.aclose()
