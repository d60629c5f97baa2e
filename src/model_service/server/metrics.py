"""Prometheus metrics: what they are, how the registry reports into them, and the scrape.

Every app has its own :class:`ServiceMetrics` (its own ``CollectorRegistry``), so several apps
in one process (the tests) never share a counter. Labels stay bounded: route templates, never a
path or a model id; an algorithm is a label value only for the first :data:`MAX_ALGORITHMS`
distinct algorithms seen, the rest count as ``other``.

Figures that need a store query (active models, storage used) are read at scrape time by
:class:`StoreFigures`, at most once per ``figures_ttl`` seconds; a store that fails makes
``model_service_store_up`` 0 and leaves those samples out, never the scrape itself.

With several worker processes (``WORKERS`` > 1) and ``PROMETHEUS_MULTIPROC_DIR`` set (``serve``
sets it), counters and histograms are shared through prometheus-client's multiprocess files, so
any worker answers a scrape with the totals of all of them.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from .. import __version__
from ..domain.models import ModelVersion

log = logging.getLogger(__name__)

# ``*_created`` series double the series count for little use; this is a process-wide switch.
prometheus_client.disable_created_metrics()

MAX_ALGORITHMS = 100
OTHER = "other"
UNMATCHED = "unmatched"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})

REQUEST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
TRANSFER_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)
STORE_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

_upload_started: ContextVar[float | None] = ContextVar("model_service_upload_started", default=None)


def upload_started() -> None:
    """Mark the start of the current request's file upload (its first byte being read); the
    observer measures from here to the commit. Worker threads started by ``run_in_threadpool``
    copy the context, so the registry's call into the observer sees the mark."""
    _upload_started.set(time.perf_counter())


class BoundedLabel:
    """Label values from user data, capped: the first ``limit`` distinct values, then ``other``."""

    def __init__(self, limit: int = MAX_ALGORITHMS):
        self.limit = limit
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, value: str) -> str:
        if value in self._seen:
            return value
        with self._lock:
            if len(self._seen) < self.limit:
                self._seen.add(value)
                return value
        return OTHER


class ServiceMetrics:
    """The service's metrics, registered in ``self.registry`` (one per app)."""

    def __init__(self, *, figures_ttl: float = 5.0, info: dict[str, str] | None = None):
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.algorithm = BoundedLabel()

        self.requests = Counter("api_requests", "HTTP requests answered, by route template, method and status",
                                ["route", "method", "status"], registry=r)
        self.request_duration = Histogram(
            "api_request_duration_seconds",
            "Time from a request's arrival to its last response byte, by route template, method and status "
            "(not observed for /metrics and /health)",
            ["route", "method", "status"], buckets=REQUEST_BUCKETS, registry=r)

        self.registrations = Counter("model_registrations", "Model versions registered", ["algorithm"], registry=r)
        self.deletions = Counter("model_deletions", "Model versions deleted", ["algorithm"], registry=r)
        self.uploads = Counter("model_uploads", "Model files uploaded and committed", ["algorithm"], registry=r)
        self.upload_bytes = Counter("model_upload_bytes", "Bytes of model files uploaded and committed",
                                    ["algorithm"], registry=r)
        self.upload_duration = Histogram("model_upload_duration_seconds",
                                         "Time from an upload's first file byte to its commit",
                                         buckets=TRANSFER_BUCKETS, registry=r)
        self.downloads = Counter("model_downloads", "Completed downloads (the last byte of the file was sent)",
                                 ["algorithm"], registry=r)
        self.download_bytes = Counter("model_download_bytes", "Bytes sent by completed downloads",
                                      ["algorithm"], registry=r)
        self.download_sent_bytes = Counter(
            "model_download_sent_bytes", "File bytes handed to connections by every download, including ranges "
            "and downloads the client broke off", registry=r)
        self.download_duration = Histogram("model_download_duration_seconds",
                                           "Time from a completed download's first byte to its last",
                                           buckets=TRANSFER_BUCKETS, registry=r)

        self.scan_verdicts_worsened = Counter(
            "model_scan_verdicts_worsened", "Stored verdicts that a background re-scan made worse (safe → unsafe, "
            "…), by the verdict before and after", ["before", "after"], registry=r)

        self.store_duration = Histogram("store_operation_duration_seconds",
                                        "Time spent in each metadata and blob store method",
                                        ["store", "operation"], buckets=STORE_BUCKETS, registry=r)
        self.store_errors = Counter("store_operation_errors", "Store methods that raised, by exception class",
                                    ["store", "operation", "error"], registry=r)

        self.figures = StoreFigures(ttl=figures_ttl)
        r.register(self.figures)
        self.info = dict(info or {})
        self.info.setdefault("version", __version__)
        r.register(_InfoCollector(self.info))

    # ---- what the application reports ------------------------------------------------------

    def observer(self) -> MetricsObserver:
        return MetricsObserver(self)

    def watch_store(self, summary: Callable[[], dict[str, int]]) -> None:
        """Read the gauges that need a store query from ``summary`` (``MetadataStore.summary``)."""
        self.figures.source = summary

    def verdict_worsened(self, before: str, after: str) -> None:
        """A re-scan found a file worse than its stored verdict said (verdicts: four values)."""
        self.scan_verdicts_worsened.labels(before, after).inc()

    def download_sent(self, size_bytes: int) -> None:
        if size_bytes:
            self.download_sent_bytes.inc(size_bytes)

    def download_completed(self, seconds: float) -> None:
        self.download_duration.observe(seconds)

    # ---- the scrape -------------------------------------------------------------------------

    def exposition(self, accept: str | None = None) -> tuple[bytes, str]:
        """The scrape's body and content type (OpenMetrics if the scraper asks for it)."""
        encoder, content_type = choose_encoder(accept or "")
        return encoder(self._scrape_registry()), content_type

    def _scrape_registry(self) -> CollectorRegistry:
        if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            return self.registry
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # every worker's counters and histograms
        registry.register(self.figures)
        registry.register(_InfoCollector(self.info))
        return registry


class MetricsObserver:
    """The registry's :class:`~model_service.domain.ports.RegistryObserver`: counts by algorithm."""

    def __init__(self, metrics: ServiceMetrics):
        self.metrics = metrics

    def _algorithm(self, model: ModelVersion) -> str:
        return self.metrics.algorithm(model.algorithm)

    def registered(self, model: ModelVersion) -> None:
        self.metrics.registrations.labels(self._algorithm(model)).inc()

    def uploaded(self, model: ModelVersion, size_bytes: int) -> None:
        algorithm = self._algorithm(model)
        self.metrics.uploads.labels(algorithm).inc()
        self.metrics.upload_bytes.labels(algorithm).inc(size_bytes)
        started = _upload_started.get()
        if started is not None:
            _upload_started.set(None)
            self.metrics.upload_duration.observe(time.perf_counter() - started)

    def downloaded(self, model: ModelVersion, size_bytes: int) -> None:
        algorithm = self._algorithm(model)
        self.metrics.downloads.labels(algorithm).inc()
        self.metrics.download_bytes.labels(algorithm).inc(size_bytes)

    def deleted(self, model: ModelVersion) -> None:
        self.metrics.deletions.labels(self._algorithm(model)).inc()


class StoreFigures(Collector):
    """Gauges read from the metadata store's ``summary()`` at scrape time, cached ``ttl`` seconds
    (a failure too, so a struggling store is not hit by every scrape)."""

    GAUGES = (
        ("models_total", "total_models", "Model versions in the registry, any status"),
        ("active_models_total", "active_models", "Model versions whose status is active"),
        ("storage_usage_bytes", "stored_bytes", "Bytes of model files stored (each distinct file once)"),
    )

    def __init__(self, *, ttl: float = 5.0, clock: Callable[[], float] = time.monotonic):
        self.source: Callable[[], dict[str, int]] | None = None
        self.ttl = ttl
        self.clock = clock
        self._lock = threading.Lock()
        self._expires = float("-inf")
        self._figures: dict[str, int] | None = None

    def describe(self) -> Iterator[Metric]:
        return iter(())  # figures are read at scrape time only, never at registration

    def read(self) -> dict[str, int] | None:
        """The cached figures, refreshed if they are older than ``ttl``; None if the store failed."""
        with self._lock:
            now = self.clock()
            if now >= self._expires and self.source is not None:
                try:
                    self._figures = dict(self.source())
                except Exception as exc:
                    self._figures = None
                    log.warning("Metrics: could not read the store's figures: %s: %s", type(exc).__name__,
                                str(exc)[:300])
                self._expires = now + self.ttl
            return self._figures

    def collect(self) -> Iterator[Metric]:
        if self.source is None:
            return
        figures = self.read()
        yield GaugeMetricFamily("model_service_store_up",
                                "1 if the store's figures could be read for this scrape, else 0",
                                value=0 if figures is None else 1)
        if figures is None:
            return
        for name, key, documentation in self.GAUGES:
            if key in figures:
                yield GaugeMetricFamily(name, documentation, value=figures[key])


class _InfoCollector(Collector):
    def __init__(self, info: dict[str, str]):
        self.info = info

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily("model_service_info", "The running service (value 1)", labels=list(self.info))
        family.add_metric(list(self.info.values()), 1)
        yield family


def method_label(method: str) -> str:
    """The ``method`` label: one of the HTTP methods the API knows, else ``other``."""
    return method if method in METHODS else OTHER


def backend_info(database_url: str, blob_store_url: str) -> dict[str, str]:
    """``model_service_info`` labels naming the backends (schemes only: no host, path or secret)."""
    database = database_url.split(":", 1)[0].split("+", 1)[0].lower()
    blobs = blob_store_url.split("://", 1)[0].lower() if "://" in blob_store_url else "local"
    return {"metadata_store": database, "blob_store": blobs}
