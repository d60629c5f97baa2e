"""Rate limit strings, as the ``RATE_LIMIT_*`` settings take them.

``100/hour``, ``100 per hour`` (the seed's flask-limiter spelling), ``10/minute``,
``30 per 5 minutes``, ``5/s``: a whole number of requests per window of whole seconds, minutes,
hours or days (at most :data:`MAX_WINDOW`). ``off`` (or ``none``, ``unlimited``) means no limit.
Anything else is refused with a message that says what is accepted.
"""

from __future__ import annotations

import re
from typing import NamedTuple

UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_ALIASES = {
    "s": "second", "sec": "second", "secs": "second", "second": "second", "seconds": "second",
    "m": "minute", "min": "minute", "mins": "minute", "minute": "minute", "minutes": "minute",
    "h": "hour", "hr": "hour", "hrs": "hour", "hour": "hour", "hours": "hour",
    "d": "day", "day": "day", "days": "day",
}
OFF = frozenset({"off", "none", "unlimited"})
MAX_REQUESTS = 1_000_000_000
MAX_WINDOW = 31 * 86400
_RATE = re.compile(r"(\d+)\s*(?:/|\s+per\s+)\s*(?:(\d+)\s*)?([a-z]+)", re.IGNORECASE)


class Rate(NamedTuple):
    """``limit`` requests per ``window`` seconds."""

    limit: int
    window: int

    def __str__(self) -> str:
        for unit, seconds in reversed(UNITS.items()):
            if self.window == seconds:
                return f"{self.limit} per {unit}"
            if self.window % seconds == 0:
                return f"{self.limit} per {self.window // seconds} {unit}s"
        raise AssertionError("a window is whole seconds")  # pragma: no cover


def parse_rate(value: str) -> Rate | None:
    """``'100/hour'`` → ``Rate(100, 3600)``; ``'off'`` → None. Raises ValueError otherwise."""
    text = str(value).strip()
    if text.lower() in OFF:
        return None
    match = _RATE.fullmatch(text)
    unit = _ALIASES.get(match.group(3).lower()) if match else None
    if match is None or unit is None:
        raise ValueError(f"'{value}' is not a rate limit: use e.g. '100/hour', '100 per hour', '10/minute', "
                         f"'30 per 5 minutes' (second, minute, hour or day) or 'off'")
    limit, multiple = int(match.group(1)), int(match.group(2) or 1)
    window = multiple * UNITS[unit]
    if not 1 <= limit <= MAX_REQUESTS:
        raise ValueError(f"'{value}': the number of requests must be from 1 to {MAX_REQUESTS}")
    if not 1 <= window <= MAX_WINDOW:
        raise ValueError(f"'{value}': the window must be from 1 second to {MAX_WINDOW // 86400} days")
    return Rate(limit, window)


def normalise_rate(value: str | None) -> str | None:
    """A setting's value checked and spelled one way (``'100 per hour'``, ``'off'``); None stays None."""
    if value is None:
        return None
    rate = parse_rate(value)
    return "off" if rate is None else str(rate)
