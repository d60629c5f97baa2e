"""Fixed windows, counted per client and route class, in a :class:`Counter`.

A rate (``limit`` requests per ``window`` seconds) cuts time into windows of ``window``
seconds. Each client's windows are shifted by an offset derived from its identity, so clients do
not all start again at the same instant, and every replica computes the same windows (the offset
is a CRC of the identity, not Python's per-process ``hash``). A request adds one to the count of
its client's current window; the request that takes the count over ``limit`` is refused, and so
is every further one until the window ends. A window's count is forgotten when it ends.

Fixed windows are exact for what they promise, cost one atomic increment (one Redis round trip)
and never more than one counter per client and class at a time. Like every window or bucket
scheme, they let a client that waited for the end of a window send up to ``limit`` requests at
each side of the boundary.

Keyed clients (see :class:`Client`) have a second count, per address: the requests whose key was
refused (401). Once an address has used up a window's worth of refused keys, its keyed requests
are refused too, so that minting keys does not buy fresh counts.
"""

from __future__ import annotations

import logging
import math
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter

from ...rates import Rate

log = logging.getLogger("model_service.ratelimit")

ROUTE_CLASSES = ("read", "write", "search", "download")


class Counts(Protocol):
    """Where counts live: this process's memory, or Redis."""

    async def incr(self, key: str, expires_at: float, now: float, peek: str | None = None) -> tuple[int, int]:
        """Add one to ``key`` (a new key starts at 0 and is forgotten at ``expires_at``, seconds
        since the epoch) atomically, and return its new count and the count of ``peek`` (0 if
        None or absent). ``now`` is the limiter's clock."""
        ...

    async def aclose(self) -> None: ...


class CounterUnavailable(Exception):
    """The counter's backend could not be reached (or answered an error)."""


class MemoryCounter:
    """Counts in this process's memory, bounded: ended windows are swept out every
    ``sweep_every`` seconds, and at most ``max_keys`` counts are kept (over that, ended windows
    are swept at once and, if that is not enough, the least recently used counts are dropped
    down to 90% of ``max_keys``, which lets those clients start afresh).

    Safe on one event loop: :meth:`incr` never yields, so it is atomic there."""

    def __init__(self, *, max_keys: int = 100_000, sweep_every: float = 60.0):
        self.max_keys = max_keys
        self.sweep_every = sweep_every
        self._counts: OrderedDict[str, list[float]] = OrderedDict()  # key → [count, expires_at]
        self._next_sweep = 0.0
        self._warned = False

    def __len__(self) -> int:
        return len(self._counts)

    async def incr(self, key: str, expires_at: float, now: float, peek: str | None = None) -> tuple[int, int]:
        return self.incr_now(key, expires_at, now, peek)

    def incr_now(self, key: str, expires_at: float, now: float, peek: str | None = None) -> tuple[int, int]:
        if now >= self._next_sweep:
            self._sweep(now)
        entry = self._counts.get(key)
        if entry is None or entry[1] <= now:
            entry = self._counts[key] = [0, expires_at]
            self._counts.move_to_end(key)
            if len(self._counts) > self.max_keys:
                self._sweep(now)  # never drops this key: it is the most recent
        else:
            self._counts.move_to_end(key)
        entry[0] += 1
        peeked = self._counts.get(peek) if peek is not None else None
        return int(entry[0]), int(peeked[0]) if peeked is not None and peeked[1] > now else 0

    def _sweep(self, now: float) -> None:
        self._next_sweep = now + self.sweep_every
        for key in [key for key, (_, expires_at) in self._counts.items() if expires_at <= now]:
            del self._counts[key]
        excess = len(self._counts) - max(1, int(self.max_keys * 0.9))
        if excess > 0:
            if not self._warned:
                log.warning("Rate limits: more than %d clients counted in memory; the least recent are forgotten",
                            self.max_keys)
                self._warned = True
            for _ in range(excess):
                self._counts.popitem(last=False)

    async def aclose(self) -> None:
        return None


@dataclass(frozen=True)
class Client:
    """Who a request counts for: ``key`` is ``key:<sha256 of the API key>`` or ``ip:<address>``;
    ``guard`` (keyed clients only) is ``fail:<address>``, the count of refused keys."""

    key: str
    guard: str | None = None


@dataclass(frozen=True)
class Decision:
    route_class: str
    bucket: str  # the class, or "default" for the classes that share RATE_LIMIT_DEFAULT
    rate: Rate
    allowed: bool
    remaining: int
    reset: float  # when the window ends, seconds since the epoch
    retry_after: int  # whole seconds until then, at least 1 (meaningful when refused)
    keys_refused: bool = False  # refused for the refused keys sent from its address

    def headers(self) -> list[tuple[bytes, bytes]]:
        """``X-RateLimit-Limit``, ``-Remaining`` and ``-Reset`` (the end of the window, as whole
        seconds since the epoch), and ``Retry-After`` (seconds) when refused."""
        headers = [(b"x-ratelimit-limit", b"%d" % self.rate.limit),
                   (b"x-ratelimit-remaining", b"%d" % self.remaining),
                   (b"x-ratelimit-reset", b"%d" % math.ceil(self.reset))]
        if not self.allowed:
            headers.append((b"retry-after", b"%d" % self.retry_after))
        return headers


class RateLimitMetrics:
    """``rate_limit_rejections_total{route_class}`` and ``rate_limit_fallbacks_total``."""

    def __init__(self, registry: CollectorRegistry):
        self.rejections = Counter("rate_limit_rejections", "Requests refused with 429 by the rate limiter",
                                  ["route_class"], registry=registry)
        self.fallbacks = Counter("rate_limit_fallbacks", "Rate limit checks counted in this process's memory "
                                 "because Redis could not be reached", registry=registry)


def window_of(identity: str, window: int, now: float) -> tuple[int, float]:
    """The number of ``identity``'s window that holds ``now``, and when it ends."""
    offset = zlib.crc32(identity.encode()) % window
    index = math.floor((now - offset) / window)
    return index, float(index * window + offset + window)


class RateLimiter:
    """Decides whether a client may make one more request of a route class.

    ``limits`` maps each limited route class to ``(bucket, rate)``: classes that share a bucket
    (those that take ``RATE_LIMIT_DEFAULT``) share their counts. A class that is not in it is not
    limited. ``trust_keys``: identify clients by their API key (only when keys are checked: with
    authentication off, a key is any string a client makes up, and clients are their addresses).
    """

    def __init__(self, limits: Mapping[str, tuple[str, Rate]], counter: Counts, *,
                 clock: Callable[[], float] = time.time, metrics: RateLimitMetrics | None = None,
                 trust_keys: bool = False):
        unknown = set(limits) - set(ROUTE_CLASSES)
        assert not unknown, f"unknown route classes {unknown}"
        self.limits = dict(limits)
        self.counter = counter
        self.clock = clock
        self.metrics = metrics
        self.trust_keys = trust_keys

    async def check(self, route_class: str, client: Client) -> Decision | None:
        """Count one request of ``client`` to ``route_class``; None if the class is not limited."""
        limit = self.limits.get(route_class)
        if limit is None:
            return None
        bucket, rate = limit
        now = self.clock()
        index, end = window_of(client.key, rate.window, now)
        peek = guard_end = None
        if client.guard is not None:
            guard_index, guard_end = window_of(client.guard, rate.window, now)
            peek = f"{bucket}:{client.guard}:{guard_index}"
        count, refused_keys = await self.counter.incr(f"{bucket}:{client.key}:{index}", end, now, peek)
        if guard_end is not None and refused_keys >= rate.limit:
            decision = Decision(route_class, bucket, rate, False, 0, guard_end, _seconds(guard_end - now),
                                keys_refused=True)
        else:
            decision = Decision(route_class, bucket, rate, count <= rate.limit, max(0, rate.limit - count), end,
                                _seconds(end - now))
        if not decision.allowed and self.metrics is not None:
            self.metrics.rejections.labels(route_class).inc()
        return decision

    async def key_refused(self, route_class: str, client: Client) -> None:
        """Count a request of ``client`` whose key was refused against its address."""
        limit = self.limits.get(route_class)
        if limit is None or client.guard is None:
            return
        bucket, rate = limit
        now = self.clock()
        index, end = window_of(client.guard, rate.window, now)
        await self.counter.incr(f"{bucket}:{client.guard}:{index}", end, now)

    async def aclose(self) -> None:
        await self.counter.aclose()


def _seconds(delta: float) -> int:
    return max(1, math.ceil(delta))
