"""The server's background re-scan: every ``RESCAN_INTERVAL`` seconds, one pass of
:func:`~..operations.rescan.rescan` over at most ``RESCAN_BATCH`` files whose stored verdict is
stale, so that a new scanner version reaches old uploads without anyone running
``model-service scan --stale``.

The pass runs on a thread of its own (never on the event loop), sharing the server's scanner and
its ``SCAN_CONCURRENCY`` slots with uploads. Each process keeps where its last pass stopped and
goes on from there, wrapping around at the end; the first pass starts at a random sha256, so that
replicas (and workers) starting together mostly take different files. Two of them re-scanning one
file at once is harmless: each version's verdict is a compare-and-swap on the one read, so one
records it and the other skips. A verdict that got worse is logged (WARNING) and counted in
``model_scan_verdicts_worsened_total{before, after}``.

At shutdown the pass is asked to stop before its next file; the stores close once it has, or
after a bounded wait (a scan in progress then finishes in its child process, capped by
``SCAN_TIMEOUT``, and its write fails harmlessly).
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from ..config import Settings
from ..domain.ports import BlobStore, MetadataStore
from ..domain.registry import Registry
from ..domain.scanning import ModelScanner
from ..operations.rescan import Change, RescanReport, rescan
from .metrics import ServiceMetrics

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


class BackgroundRescan:
    """One bounded re-scan pass every ``interval`` seconds (the first after one interval)."""

    def __init__(self, metadata: MetadataStore, blobs: BlobStore, scanner: ModelScanner, *, interval: float,
                 batch: int, temp_dir: Path | None = None, on_worse: Callable[[Change], None] | None = None,
                 start: str | None = None, clock: Callable[[], datetime] = utcnow):
        self.metadata = metadata
        self.blobs = blobs
        self.scanner = scanner
        self.interval = interval
        self.batch = batch
        self.temp_dir = temp_dir
        self.on_worse = on_worse
        self.clock = clock
        self.cursor: str | None = secrets.token_hex(32) if start is None else start
        """The sha256 the next pass starts at (None: the beginning)."""
        self.passes = 0
        self.last: RescanReport | None = None
        self._stop = threading.Event()
        self._done = threading.Condition()
        self._thread: threading.Thread | None = None

    def run_pass(self) -> RescanReport:
        """One pass: at most ``batch`` files from the cursor on; the cursor moves past them."""
        report = rescan(self.metadata, self.blobs, self.scanner, clock=self.clock, limit=self.batch,
                        start=self.cursor, temp_dir=self.temp_dir, stop=self._stop.is_set, on_worse=self.on_worse)
        self.cursor = report.resume
        if report.files:
            log.info("Background re-scan: %d file(s), %d version(s) recorded, %d changed (%d worse), %d failed",
                     report.files, report.versions, report.changed_count, report.worse, report.failed)
        return report

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="model-rescan", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            report = None
            try:
                report = self.run_pass()
            except Exception as exc:  # a store down, …: the next pass tries again
                log.warning("Background re-scan pass failed: %s: %s", type(exc).__name__, str(exc)[:300])
            with self._done:
                self.passes += 1
                self.last = report
                self._done.notify_all()

    def wait_for_passes(self, count: int, timeout: float) -> bool:
        """Whether ``count`` passes have ended within ``timeout`` seconds."""
        with self._done:
            return self._done.wait_for(lambda: self.passes >= count, timeout)

    def stop(self) -> None:
        """Ask the pass to stop before its next file (and the loop before its next pass)."""
        self._stop.set()

    def join(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the thread to end; whether it has."""
        self.stop()
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True


def background_rescan(settings: Settings, registry: Registry, metrics: ServiceMetrics) -> BackgroundRescan | None:
    """The pass the settings ask for: None with ``RESCAN_INTERVAL=0`` or without a scanner."""
    if settings.rescan_interval <= 0 or registry.scanner is None:
        return None
    return BackgroundRescan(registry.metadata, registry.blobs, registry.scanner, interval=settings.rescan_interval,
                            batch=settings.rescan_batch, temp_dir=settings.scan_temp_dir,
                            on_worse=lambda change: metrics.verdict_worsened(change.from_verdict.value,
                                                                             change.after.verdict.value))
