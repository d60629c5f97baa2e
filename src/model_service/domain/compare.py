"""Side-by-side comparison of versions: metrics and hyperparameters, what differs, what is best."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .models import ModelVersion

# Metrics where smaller is better; every other metric is better when larger.
_LOWER_IS_BETTER = re.compile(
    r"loss|error|err$|mse|rmse|mae|mape|smape|perplexity|latency|duration|time|wer|cer|brier|fpr|fnr|bic|aic",
    re.IGNORECASE,
)


def lower_is_better(metric: str) -> bool:
    return bool(_LOWER_IS_BETTER.search(metric))


@dataclass(frozen=True, slots=True)
class Best:
    metric: str
    model_ids: tuple[str, ...]  # every version holding the best value (ties)
    value: float
    direction: str  # "max" | "min"


@dataclass(frozen=True, slots=True)
class Comparison:
    models: tuple[ModelVersion, ...]
    metrics: dict[str, dict[str, float | None]]  # metric → model id → value (None: not measured)
    hyperparameters: dict[str, dict[str, Any]]  # parameter → model id → value (None: not set)
    differing_metrics: tuple[str, ...]
    differing_hyperparameters: tuple[str, ...]
    best: dict[str, Best]


def _table(models: Sequence[ModelVersion], attribute: str) -> dict[str, dict[str, Any]]:
    keys = sorted({key for model in models for key in getattr(model, attribute)})
    return {key: {model.id: getattr(model, attribute).get(key) for model in models} for key in keys}


def _differs(row: dict[str, Any]) -> bool:
    values = list(row.values())
    return any(value != values[0] for value in values[1:])


def compare(models: Sequence[ModelVersion]) -> Comparison:
    metrics = _table(models, "metrics")
    hyperparameters = _table(models, "hyperparameters")
    best: dict[str, Best] = {}
    for metric, row in metrics.items():
        measured = {model_id: value for model_id, value in row.items() if value is not None}
        if not measured:
            continue
        direction = "min" if lower_is_better(metric) else "max"
        value = (min if direction == "min" else max)(measured.values())
        best[metric] = Best(metric, tuple(m for m, v in measured.items() if v == value), value, direction)
    return Comparison(
        models=tuple(models),
        metrics=metrics,
        hyperparameters=hyperparameters,
        differing_metrics=tuple(k for k, row in metrics.items() if _differs(row)),
        differing_hyperparameters=tuple(k for k, row in hyperparameters.items() if _differs(row)),
        best=best,
    )
