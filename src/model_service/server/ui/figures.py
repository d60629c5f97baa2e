"""The registry-wide figures the pages show: the models list's facets (versions per algorithm,
status and tag) and the dashboard's statistics, charts and most downloaded versions.

They are aggregate queries over every version (the dashboard's take about 100 ms at 100,000
versions, bench/search.py), so each process reuses them for :data:`FIGURE_SECONDS` rather than
running them for every page view: a figure may lag a write by that long. The lists themselves
(search results, a version, recent versions) are never cached.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from ...domain.models import Status
from ...domain.registry import Registry
from . import charts

FIGURE_SECONDS = 10.0
TOP_ALGORITHMS = 12
TOP_TAGS = 15
POPULAR = 8
DOWNLOAD_DAYS = 30

T = TypeVar("T")


class Expiring(Generic[T]):
    """``compute()``'s value, computed again once it is :attr:`seconds` old (called on a worker
    thread; two threads may compute it at the same time, and the later one is kept)."""

    def __init__(self, compute: Callable[[], T], *, seconds: float = FIGURE_SECONDS,
                 clock: Callable[[], float] = time.monotonic):
        self.compute = compute
        self.seconds = seconds
        self.clock = clock
        self._lock = threading.Lock()
        self._value: T | None = None
        self._expires = 0.0

    def get(self) -> T:
        with self._lock:
            if self._value is not None and self.clock() < self._expires:
                return self._value
        value = self.compute()
        with self._lock:
            self._value, self._expires = value, self.clock() + self.seconds
        return value


@dataclass(frozen=True, slots=True)
class Facets:
    algorithms: list[tuple[str, int]]
    statuses: list[tuple[str, int]]
    tags: list[tuple[str, int]]


def facets(registry: Registry) -> Facets:
    counts = registry.facet_counts(TOP_ALGORITHMS, TOP_TAGS)
    statuses = dict(counts["status"])
    return Facets(algorithms=counts["algorithm"],
                  statuses=[(status.value, statuses.get(status.value, 0)) for status in Status],
                  tags=counts["tags"])


def dashboard(registry: Registry) -> dict[str, Any]:
    """The dashboard's figures and charts, and the most downloaded versions (all time, from the
    download counter's index: counting a window's download events would cost more than the rest)."""
    stats = registry.statistics()
    by_algorithm = sorted(stats.by_algorithm.items(), key=lambda item: (-item[1], item[0]))
    return {
        "stats": stats,
        "algorithms": charts.bars(by_algorithm[:TOP_ALGORITHMS]),
        "other_algorithms": max(0, len(by_algorithm) - TOP_ALGORITHMS),
        "statuses": charts.bars([(status.value, stats.by_status.get(status.value, 0)) for status in Status]),
        "downloads": charts.columns(registry.downloads_per_day(DOWNLOAD_DAYS)),
        "popular": registry.popular(POPULAR),
        "figure_seconds": FIGURE_SECONDS,
    }


class Figures:
    """The app's cached figures (one per process)."""

    def __init__(self, registry: Registry, *, seconds: float = FIGURE_SECONDS):
        self.facets = Expiring(lambda: facets(registry), seconds=seconds)
        self.dashboard = Expiring(lambda: dashboard(registry), seconds=seconds)
