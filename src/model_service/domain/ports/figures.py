"""The metadata store's figures: aggregates the database computes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Protocol

from ..models import ModelVersion, RegistryStats

COUNTED_FIELDS = frozenset({"algorithm", "status", "tags"})
"""What :meth:`Figures.value_counts` counts versions by."""


class Figures(Protocol):
    def statistics(self, *, added_since: datetime, downloads_since: datetime, today: datetime) -> RegistryStats:
        """The registry's figures by aggregate queries: versions added since ``added_since``,
        downloads since ``downloads_since``, and both since ``today`` (its midnight)."""

    def popular(self, limit: int, since: datetime | None = None) -> list[tuple[ModelVersion, int]]:
        """The most downloaded versions with their download counts: all time (the counter), or
        counting only downloads since ``since``. Most first; ties newest first."""

    def value_counts(self, field: str, limit: int) -> list[tuple[str, int]]:
        """Each value of ``field`` (one of :data:`COUNTED_FIELDS`: ``algorithm``, ``status``, or
        ``tags``, where a version counts once for each of its tags) with the number of live (not
        deleted) versions that have it: most first, ties by value in code point order; at most
        ``limit`` (none when ``limit`` < 1). Counted by the database from the field's index."""

    def downloads_by_day(self, since: datetime, until: datetime) -> dict[date, int]:
        """How many ``downloaded`` events fall on each UTC calendar day, counting those at or
        after ``since`` and before ``until`` (half-open). Days without one are absent; the dict
        promises no order. Events of deleted versions still count: the log is append-only, as
        for :meth:`statistics`. Grouped by the database, by UTC day whatever its session's time
        zone, from the (kind, time) index: never by loading events into Python."""

    def summary(self) -> dict[str, int]:
        """``total_models``, ``active_models``, ``stored_bytes`` (distinct blobs), by aggregate query."""


def check_counted(field: str) -> None:
    """A programming error, not a client's: the registry asks for the fields it knows."""
    if field not in COUNTED_FIELDS:
        raise ValueError(f"Cannot count versions by {field!r}")
