"""The requests a process is serving, so that its shutdown can let them unwind before it closes
the stores they use.

uvicorn's graceful stop waits for requests in flight for ``SHUTDOWN_GRACE_SECONDS``, then cancels
those still running and, without waiting for them, runs the app's shutdown. :meth:`settle` (called
first thing in that shutdown) waits a few seconds more for the cancelled ones to finish their
clean-up (a download's blob reader is closed in a worker thread), and keeps their cancellation
out of the log as tracebacks: the stop itself already said it cut them.
"""

from __future__ import annotations

import asyncio
import logging

from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger("model_service")


class InFlightRequests:
    """Pure-ASGI middleware: the task of every HTTP request being served."""

    def __init__(self, app: ASGIApp, *, tracker: RequestTracker):
        self.app = app
        self.tracker = tracker

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        task = asyncio.current_task()
        self.tracker.tasks.add(task)
        try:
            await self.app(scope, receive, send)
        finally:
            self.tracker.tasks.discard(task)


class RequestTracker:
    def __init__(self) -> None:
        self.tasks: set[asyncio.Task | None] = set()

    async def settle(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for the requests still there, cancelled or not."""
        running = [task for task in self.tasks if task is not None and not task.done()]
        if not running:
            return
        logging.getLogger("uvicorn.error").addFilter(_drop_cancellations)
        _, pending = await asyncio.wait(running, timeout=timeout)
        if pending:
            log.warning("Closing the stores with %d request(s) still unwinding", len(pending))


def _drop_cancellations(record: logging.LogRecord) -> bool:
    """uvicorn's "Exception in ASGI application" traceback of a request that the stop cancelled."""
    return not (record.exc_info and isinstance(record.exc_info[1], asyncio.CancelledError))
