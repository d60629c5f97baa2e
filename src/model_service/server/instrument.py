"""Timing of every store call, without touching the stores: a forwarding proxy.

:func:`timed` wraps a metadata or blob store so that each of its public methods observes its
duration in ``store_operation_duration_seconds{store, operation}`` and, when it raises, counts
``store_operation_errors_total{store, operation, error}`` (the exception's class name). Every
other attribute (``local_point_reads``, a backend's own fields) is read through unchanged.
"""

from __future__ import annotations

import functools
import time
from typing import Any, TypeVar

from .metrics import ServiceMetrics

T = TypeVar("T")


class TimedStore:
    """Forwards to ``target``; public methods come back timed (made once per name, then cached)."""

    def __init__(self, target: Any, store: str, metrics: ServiceMetrics):
        self.__dict__.update(_target=target, _store=store, _metrics=metrics)

    def __getattr__(self, name: str) -> Any:
        if name in ("_target", "_store", "_metrics"):  # not set yet (copy, pickle): no recursion
            raise AttributeError(name)
        value = getattr(self._target, name)
        if name.startswith("_") or not callable(value) or isinstance(value, type):
            return value
        timed_method = self._time(name, value)
        self.__dict__[name] = timed_method  # found directly from now on: no __getattr__, no lookup
        return timed_method

    def _time(self, operation: str, method: Any) -> Any:
        observe = self._metrics.store_duration.labels(self._store, operation).observe
        errors = self._metrics.store_errors
        store = self._store
        clock = time.perf_counter

        @functools.wraps(method)
        def timed_call(*args: Any, **kwargs: Any) -> Any:
            started = clock()
            try:
                return method(*args, **kwargs)
            except Exception as exc:
                errors.labels(store, operation, type(exc).__name__).inc()
                raise
            finally:
                observe(clock() - started)

        return timed_call

    def __repr__(self) -> str:
        return f"TimedStore({self._target!r}, store={self._store!r})"


def timed(target: T, store: str, metrics: ServiceMetrics) -> T:
    """``target`` with every public method timed under ``store`` (``metadata`` or ``blob``)."""
    return TimedStore(target, store, metrics)  # type: ignore[return-value]


def unwrap(store: Any) -> Any:
    """The store behind a :func:`timed` proxy (or ``store`` itself)."""
    return store.__dict__.get("_target", store) if isinstance(store, TimedStore) else store
