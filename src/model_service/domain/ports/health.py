"""What a backend's own check reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Health:
    """One backend's own check: ``ok`` and a human ``detail``, plus figures for operators."""

    ok: bool
    detail: str = "healthy"
    info: dict[str, Any] = field(default_factory=dict)
