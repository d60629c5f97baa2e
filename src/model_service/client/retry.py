"""When a failed request is tried again, and after how long.

Retried: connection failures, ``429 Too Many Requests`` and ``503 Service Unavailable``; never any
other status (a 404 or a 422 will not change by asking again). A request that may have changed
something on the server (a POST) is retried only when it cannot have reached it: the connection
was never made. The one exception is a 429, which the server's rate limiter answers before it
does anything with the request.

Waits grow exponentially with jitter (``backoff × 2^attempt``, between half and all of it, at most
``max_backoff``), so that many clients failing together do not come back together. A
``Retry-After`` is waited exactly; one longer than ``max_retry_after`` is not waited at all: the
error is raised at once (a client told to come back in an hour should not sleep an hour).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
RETRY_STATUSES = frozenset({429, 503})

# Failures that happen before a single byte of the request was sent.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# Failures after which the request may or may not have been received.
BROKEN = (httpx.NetworkError, httpx.TimeoutException, httpx.RemoteProtocolError)


@dataclass(frozen=True)
class RetryPolicy:
    """``retries`` more attempts after the first. ``sleep`` and ``random`` are injectable so tests
    need not wait."""

    retries: int = 4
    backoff: float = 0.5
    max_backoff: float = 30.0
    max_retry_after: float = 60.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    random: Callable[[], float] = field(default=random.random, repr=False)

    def backoff_delay(self, attempt: int) -> float:
        """The wait before retry number ``attempt + 1`` (attempt 0 is the first retry)."""
        ceiling = min(self.max_backoff, self.backoff * (2.0 ** attempt))
        return ceiling / 2 + self.random() * ceiling / 2

    def may_retry_error(self, method: str, error: Exception, *, rewindable: bool = True) -> bool:
        """Whether a transport failure of ``method`` may be tried again."""
        if not rewindable:
            return False
        if isinstance(error, NOT_SENT):
            return True
        return method.upper() in IDEMPOTENT and isinstance(error, BROKEN)

    def may_retry_status(self, method: str, status: int, *, rewindable: bool = True) -> bool:
        if status not in RETRY_STATUSES or not rewindable:
            return False
        return status == 429 or method.upper() in IDEMPOTENT

    def status_delay(self, attempt: int, retry_after: float | None) -> float | None:
        """The wait before retrying a 429/503; None if the server asked for more than we wait."""
        if retry_after is None:
            return self.backoff_delay(attempt)
        if retry_after > self.max_retry_after:
            return None
        return retry_after
