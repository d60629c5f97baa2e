"""Logging, configured in one place: one handler on the root logger, plain text or JSON lines.

Every record goes out in the chosen format — ours, uvicorn's, a library's warning, a traceback —
and carries the id of the request it was logged in (:data:`REQUEST_ID`, a context variable that
the request middleware sets; worker threads started with ``run_in_threadpool`` inherit it).

The per-request line is logged by :class:`AccessLog` on the ``model_service.access`` logger; it
replaces uvicorn's access log, which is switched off.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Mapping
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

REQUEST_ID: ContextVar[str | None] = ContextVar("model_service_request_id", default=None)
"""The id of the request being served (None outside of one)."""

ACCESS_LOGGER = "model_service.access"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_OURS = "_model_service_handler"


class RequestContextFilter(logging.Filter):
    """Gives every record a ``request_id`` attribute: the current request's, unless it has one."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = REQUEST_ID.get()
        return True


class TextFormatter(logging.Formatter):
    """``2025-01-31 12:00:00,123 INFO name: message request_id=…`` (then the traceback, if any)."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)
        self._second: tuple[int, str] = (-1, "")

    def formatTime(self, record: logging.LogRecord, _datefmt: str | None = None) -> str:
        # One fixed date format: the Formatter's datefmt (which logging.Formatter.format passes
        # positionally, and which this formatter never sets) is not used.
        second = int(record.created)
        if second != self._second[0]:  # one strftime per second, not per line
            self._second = (second, time.strftime("%Y-%m-%d %H:%M:%S", self.converter(record.created)))
        return f"{self._second[1]},{int(record.msecs):03d}"

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        request_id = getattr(record, "request_id", None)
        return f"{line} request_id={request_id}" if request_id else line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message``,
    ``request_id`` when in a request, the access line's fields, and ``exception`` (the formatted
    traceback) when there is one."""

    def __init__(self) -> None:
        super().__init__()
        self._second: tuple[int, str] = (-1, "")

    def _time(self, created: float) -> str:
        second = int(created)
        if second != self._second[0]:  # one conversion per second, not per line
            self._second = (second, datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S"))
        return f"{self._second[1]}.{int((created - second) * 1000):03d}Z"

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self._time(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id:
            entry["request_id"] = request_id
        fields = getattr(record, "http", None)
        if fields:
            entry.update(fields)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, separators=(",", ":"))


def make_formatter(log_format: str) -> logging.Formatter:
    if log_format == "json":
        return JsonFormatter()
    if log_format == "text":
        return TextFormatter()
    raise ValueError(f"Unknown log format '{log_format}': use text or json")


def configure_logging(level: str | int = "INFO", log_format: str = "text", *, stream: TextIO | None = None) -> None:
    """Send every record at ``level`` and above to ``stream`` (stderr) in ``log_format``.

    Idempotent: our handler replaces the one a previous call installed (``serve`` configures
    logging, then the app factory does again in every worker process). Uvicorn's loggers lose
    their own handlers and propagate to ours; its access log is disabled (ours replaces it).
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _OURS, False):
            root.removeHandler(handler)
            handler.close()
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    setattr(handler, _OURS, True)
    handler.setFormatter(make_formatter(log_format))
    handler.addFilter(RequestContextFilter())
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.asgi"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
    logging.getLogger("uvicorn.access").disabled = True


class AccessLog:
    """The line logged for each request (``ACCESS_LOG``): method, path, status, bytes out and
    duration in the message, and as fields (``method``, ``route``, ``path``, ``status``,
    ``duration_ms``, ``bytes_out``, ``client``, ``actor``, ``request_id``) for the JSON format.

    Answers to the routes in ``quiet_routes`` (liveness probes, scrapes) are logged at DEBUG
    when they succeed, so that INFO is not a wall of probes.
    """

    def __init__(self, *, quiet_routes: frozenset[str] = frozenset(), logger: logging.Logger | None = None):
        self.logger = logger or logging.getLogger(ACCESS_LOGGER)
        self.quiet_routes = quiet_routes

    def __call__(self, scope: Mapping[str, Any], route: str, status: int, duration: float, bytes_out: int,
                 request_id: str) -> None:
        level = logging.DEBUG if route in self.quiet_routes and status < 400 else logging.INFO
        if not self.logger.isEnabledFor(level):
            return
        method = scope["method"]
        path = _printable(scope.get("raw_path") or scope["path"])
        query = scope.get("query_string")
        if query:
            path = f"{path}?{_printable(query)}"
        client = scope.get("client")
        client_text = f"{client[0]}:{client[1]}" if client else None
        actor = _actor(scope)
        duration_ms = round(duration * 1000, 3)
        fields = {"method": method, "route": route, "path": path, "status": status, "duration_ms": duration_ms,
                  "bytes_out": bytes_out, "client": client_text, "actor": actor, "request_id": request_id}
        # makeRecord + handle: logger.log would also walk the stack for a caller nobody reads
        record = self.logger.makeRecord(
            self.logger.name, level, "", 0, '%s %s %d %dB %.2fms route=%s client=%s actor=%s',
            (method, path, status, bytes_out, duration_ms, route, client_text or "-", actor or "-"), None,
            extra={"http": fields, "request_id": request_id})
        self.logger.handle(record)


def _printable(value: str | bytes) -> str:
    """A path or query for one log line: percent-encoded as sent, control characters escaped."""
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    if not text.isprintable():
        text = text.encode("unicode_escape").decode("ascii")
    return text[:2048]


def _actor(scope: Mapping[str, Any]) -> str | None:
    """Who the request acted for: set by authentication in ``scope["state"]["actor"]``, else the
    ``X-Actor`` header as sent (the actor recorded in history when authentication is off)."""
    actor = scope.get("state", {}).get("actor")
    if actor:
        return str(actor)[:256]
    for name, value in scope["headers"]:
        if name == b"x-actor":
            text = value.decode("latin-1").strip()
            return _printable(text[:256]) or None
    return None
