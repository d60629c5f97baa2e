"""Re-scanning: which stored verdicts are stale, and when a new verdict is worse than the old.

A verdict is stored with the file when it is uploaded (:class:`~.scanning.ScanResult`), by the
scanner of that day. A scanner that learns to see more (a new picklescan, a fix of the reader:
its version string names both) does not reach old uploads by itself; ``model-service scan
--stale`` and the server's background pass re-scan the files whose stored verdict is stale:

* ``not_recorded``: no verdict stored (uploaded before scanning existed);
* ``never_scanned``: ``unscanned`` because the scan never ran (``scanning_disabled``,
  ``no_local_copy``);
* ``older_scanner``: judged by a scanner whose version is not the running one's (the whole
  string is compared: a scanner revision counts as much as picklescan's own version);
* ``transient`` (only when asked for): ``unscanned`` because the scan failed in a way that may
  not happen again (a time-out, the memory cap, a scanner that could not start).

A verdict the scanner did not give (a non-executable format, a format it does not read) names
no scanner: it is decided by the format, and is not stale. So a re-scan never leaves a file
stale again, and a pass over the registry ends.
"""

from __future__ import annotations

from dataclasses import dataclass

from .scanning import (
    NO_LOCAL_COPY,
    NOT_RECORDED,
    SCAN_FAILED,
    SCAN_MEMORY_LIMIT,
    SCAN_TIMEOUT,
    SCANNING_DISABLED,
    ScanResult,
    Verdict,
)

NEVER_SCANNED = "never_scanned"
OLDER_SCANNER = "older_scanner"
TRANSIENT = "transient"

NEVER_RAN = frozenset({NOT_RECORDED, SCANNING_DISABLED, NO_LOCAL_COPY})
"""``unscanned`` reasons of a scan that never ran: always re-scanned."""
TRANSIENT_FAILURES = frozenset({SCAN_TIMEOUT, SCAN_MEMORY_LIMIT, SCAN_FAILED})
"""``unscanned`` reasons of a scan that failed and may not fail again: re-scanned when asked for."""


@dataclass(frozen=True, slots=True)
class Staleness:
    """Which stored verdicts a re-scan redoes, against the running scanner's ``scanner_version``:
    a file without a stored verdict, an ``unscanned`` verdict whose reason is one of ``reasons``,
    and a verdict given by a scanner (``scanner`` set) whose version is not ``scanner_version``.

    The stores translate exactly this into their own query language (``files_to_rescan``);
    :meth:`why` is the same rule in Python."""

    scanner_version: str | None
    reasons: frozenset[str] = NEVER_RAN

    @classmethod
    def of(cls, scanner_version: str | None, *, retry_transient: bool = False) -> Staleness:
        return cls(scanner_version, NEVER_RAN | TRANSIENT_FAILURES if retry_transient else NEVER_RAN)

    def why(self, scan: ScanResult | None) -> str | None:
        """Why ``scan`` is to be redone (``not_recorded``, ``never_scanned``, ``transient``,
        ``older_scanner``), or None if it is not stale."""
        if scan is None:
            return NOT_RECORDED
        if scan.verdict is Verdict.UNSCANNED and scan.reason in self.reasons:
            return NEVER_SCANNED if scan.reason in NEVER_RAN else TRANSIENT
        if scan.scanner is not None and scan.scanner_version != self.scanner_version:
            return OLDER_SCANNER
        return None


SEVERITY = {Verdict.SAFE: 0, Verdict.UNSCANNED: 1, Verdict.SUSPICIOUS: 2, Verdict.UNSAFE: 3}
"""How much a verdict warns of: ``unscanned`` (nobody knows) above ``safe``, below what a scan found."""


def worse(before: Verdict, after: Verdict) -> bool:
    """Whether ``after`` warns of more than ``before``: ``safe`` → ``unsafe``, ``unscanned`` →
    ``suspicious``, … — what deployments alert on."""
    return SEVERITY[after] > SEVERITY[before]
