"""Model names: what is allowed, and the semantic names generated when none is given."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from .errors import Invalid

MAX_NAME_LENGTH = 128
# Letters, digits and ``_ - . % +``, starting with a letter or digit. No ``/`` (path separator),
# ``@`` (the SDK's ``name@alias``), whitespace or control characters: every allowed name
# survives a URL path segment once percent-encoded, and decodes back to itself.
NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.%+-]*"
_NAME = re.compile(NAME_PATTERN)

# The metrics that count as "accuracy", most trustworthy (held-out) first.
ACCURACY_METRICS = ("test_accuracy", "accuracy", "val_accuracy", "validation_accuracy", "train_accuracy")


def validate_name(name: str) -> str:
    if not isinstance(name, str) or not name:
        raise Invalid("A model name must be a non-empty string", code="invalid_name", details={"name": name})
    if len(name) > MAX_NAME_LENGTH:
        raise Invalid(
            f"A model name is at most {MAX_NAME_LENGTH} characters (got {len(name)})",
            code="invalid_name",
            details={"name": name[:MAX_NAME_LENGTH] + "…", "max_length": MAX_NAME_LENGTH},
        )
    if not _NAME.fullmatch(name):
        raise Invalid(
            f"Invalid model name '{name}': use letters, digits and _ - . % +, starting with a letter or digit",
            code="invalid_name",
            details={"name": name, "pattern": _NAME.pattern},
        )
    return name


def accuracy_of(metrics: Mapping[str, Any]) -> float | None:
    """The model's accuracy-like metric (the first of :data:`ACCURACY_METRICS` present), or None."""
    for key in ACCURACY_METRICS:
        value = metrics.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None


def pascal_case(algorithm: str) -> str:
    words = re.split(r"[^A-Za-z0-9]+", algorithm)
    return "".join(word[:1].upper() + word[1:] for word in words if word) or "Model"


def semantic_name(algorithm: str, metrics: Mapping[str, Any], when: datetime) -> str:
    """``RandomForest_95.2%_Dec16``: algorithm in PascalCase, accuracy as a percentage, month and day.

    Accuracy given as a fraction (0.952) or already as a percentage (95.2) both read 95.2%;
    with no accuracy-like metric the part is left out (``RandomForest_Dec16``).
    """
    parts = [pascal_case(algorithm)[:80]]
    accuracy = accuracy_of(metrics)
    if accuracy is not None and 0 <= accuracy <= 100:
        percent = accuracy * 100 if accuracy <= 1 else accuracy
        parts.append(f"{percent:.1f}%")
    parts.append(f"{when:%b}{when.day}")
    return validate_name("_".join(parts))
