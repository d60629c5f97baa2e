"""The models list's facets: how many versions each algorithm, status and tag has, registry-wide.

They are aggregate queries over every version, so a list page (which a person pages through
quickly) reuses them for a few seconds rather than running them on every page: a facet count
may lag a write by up to :data:`FACET_SECONDS`, the list itself never does.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ...domain.models import Status
from ...domain.registry import Registry

FACET_SECONDS = 10.0
TOP_ALGORITHMS = 12
TOP_TAGS = 15


@dataclass(frozen=True, slots=True)
class Facets:
    algorithms: list[tuple[str, int]]
    statuses: list[tuple[str, int]]
    tags: list[tuple[str, int]]


class FacetCache:
    def __init__(self, registry: Registry, *, seconds: float = FACET_SECONDS,
                 clock: Callable[[], float] = time.monotonic):
        self.registry = registry
        self.seconds = seconds
        self.clock = clock
        self._lock = threading.Lock()
        self._value: Facets | None = None
        self._expires = 0.0

    def get(self) -> Facets:
        """The facets, computed at most once per :attr:`seconds` (called on a worker thread)."""
        with self._lock:
            if self._value is not None and self.clock() < self._expires:
                return self._value
        counts = self.registry.facet_counts(TOP_ALGORITHMS, TOP_TAGS)
        statuses = dict(counts["status"])
        facets = Facets(algorithms=counts["algorithm"],
                        statuses=[(status.value, statuses.get(status.value, 0)) for status in Status],
                        tags=counts["tags"])
        with self._lock:
            self._value, self._expires = facets, self.clock() + self.seconds
        return facets
