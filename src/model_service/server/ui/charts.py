"""Chart geometry for the pages' inline SVG: the server works out every bar, so the charts need
no script, render in any browser and print. Each chart also comes with its figures as a table
(or a text label per bar) for screen readers."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    value: float
    share: float  # of the largest value, 0..1: the bar's length as a fraction of the chart's width
    percent: float  # of the total, 0..100


def bars(items: Sequence[tuple[str, float]]) -> list[Bar]:
    """Horizontal bars, largest first as given."""
    largest = max((value for _, value in items), default=0) or 1
    total = sum(value for _, value in items) or 1
    return [Bar(label, value, value / largest, 100 * value / total) for label, value in items]


@dataclass(frozen=True, slots=True)
class Column:
    day: date
    value: int
    x: float
    y: float
    height: float


@dataclass(frozen=True, slots=True)
class ColumnChart:
    columns: list[Column]
    width: float
    height: float
    column_width: float
    top: int  # the value of the top gridline
    total: int


def columns(series: Sequence[tuple[date, int]], *, width: float = 600, height: float = 160) -> ColumnChart:
    """A column per day, scaled to a round top value."""
    top = _round_up(max((value for _, value in series), default=0))
    step = width / max(1, len(series))
    column_width = max(1.0, step * 0.8)
    out = []
    for index, (day, value) in enumerate(series):
        bar = height * value / top if top else 0
        out.append(Column(day, value, index * step + (step - column_width) / 2, height - bar, bar))
    return ColumnChart(out, width, height, column_width, top, sum(value for _, value in series))


@dataclass(frozen=True, slots=True)
class GroupedBar:
    model_id: str
    value: float | None
    share: float  # of the largest magnitude in the group, 0..1
    best: bool


def metric_bars(row: dict[str, float | None], best_ids: Sequence[str]) -> list[GroupedBar]:
    """One metric across the compared versions: bar lengths relative to the largest magnitude."""
    magnitudes = [abs(value) for value in row.values() if value is not None and math.isfinite(value)]
    largest = max(magnitudes, default=0) or 1
    return [GroupedBar(model_id, value,
                       abs(value) / largest if value is not None and math.isfinite(value) else 0,
                       model_id in best_ids)
            for model_id, value in row.items()]


def _round_up(value: float) -> int:
    """The smallest of 1, 2, 5 × 10^n at or above ``value`` (0 for 0)."""
    if value <= 0:
        return 0
    magnitude = 10 ** math.floor(math.log10(value))
    for factor in (1, 2, 5, 10):
        if factor * magnitude >= value:
            return int(factor * magnitude) if factor * magnitude >= 1 else 1
    return int(10 * magnitude)  # pragma: no cover - factor 10 always reaches value
