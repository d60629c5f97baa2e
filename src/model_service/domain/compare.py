"""Side-by-side comparison of versions: metrics and hyperparameters, what differs, what is best."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .models import ModelVersion

# Words that mark a metric where smaller is better; every other metric is better when larger.
# Matched against the words of the name (``val_loss`` → val, loss), never inside a word.
_LOWER_IS_BETTER = frozenset({
    "loss", "logloss", "nll", "error", "err", "mse", "rmse", "mae", "mape", "smape", "msle", "rmsle",
    "perplexity", "ppl", "latency", "duration", "time", "seconds", "ms", "wer", "cer", "ter", "brier",
    "fpr", "fnr", "far", "frr", "eer", "bic", "aic", "distance", "divergence", "kl", "cost", "regret",
})
_WORDS = re.compile(r"[a-z]+|[A-Z][a-z]*")


def lower_is_better(metric: str) -> bool:
    words = {word.lower() for word in _WORDS.findall(metric)}
    return bool(words & _LOWER_IS_BETTER) or any(word.endswith(("loss", "error")) for word in words)


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
