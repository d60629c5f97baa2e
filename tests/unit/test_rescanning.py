"""Which stored verdicts a re-scan redoes, when a new verdict is worse, and the plan that records
one (a compare-and-swap on the verdict read)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from model_service.domain.errors import Conflict, NotFound
from model_service.domain.models import EventKind
from model_service.domain.plans.scans import plan_rescan
from model_service.domain.rescanning import NEVER_SCANNED, OLDER_SCANNER, TRANSIENT, Staleness, worse
from model_service.domain.scanning import (
    NOT_RECORDED,
    SCAN_MEMORY_LIMIT,
    SCAN_TIMEOUT,
    SCANNING_DISABLED,
    ScanResult,
    Verdict,
    unscanned,
)
from tests.contract.helpers import draft, file_info

AT = datetime(2026, 3, 1, tzinfo=UTC)
SAFE = ScanResult(Verdict.SAFE, True, AT, "picklescan", "1.0.5+r2", (), None, "harmless")


@pytest.mark.parametrize("stored, why", [
    (None, NOT_RECORDED),
    (unscanned(NOT_RECORDED, "before scanning"), NEVER_SCANNED),
    (unscanned(SCANNING_DISABLED, "off"), NEVER_SCANNED),
    (replace(SAFE, scanner_version="1.0.5"), OLDER_SCANNER),  # picklescan's own version is not enough
    (replace(SAFE, scanner_version="1.0.5+r1"), OLDER_SCANNER),  # the whole string counts
    (replace(SAFE, scanner_version=None), OLDER_SCANNER),
    (SAFE, None),
    (unscanned(SCAN_TIMEOUT, "slow", scanner="picklescan", scanner_version="1.0.5+r2"), None),
    (ScanResult(Verdict.SAFE, False, AT, reason="non_executable_format"), None),  # the format decides
    (unscanned("format_not_scanned", "keras"), None),
])
def test_which_verdicts_are_stale(stored, why):
    assert Staleness.of("1.0.5+r2").why(stored) == why


def test_transient_failures_only_when_asked_for():
    timed_out = unscanned(SCAN_TIMEOUT, "slow", scanner="picklescan", scanner_version="1.0.5+r2")
    memory = replace(timed_out, reason=SCAN_MEMORY_LIMIT)
    unsafe_before_timeout = replace(timed_out, verdict=Verdict.UNSAFE)
    retry = Staleness.of("1.0.5+r2", retry_transient=True)
    assert (retry.why(timed_out), retry.why(memory), retry.why(unsafe_before_timeout)) == (TRANSIENT, TRANSIENT, None)
    assert Staleness.of("1.0.5+r2").why(timed_out) is None


def test_worse_verdicts():
    assert worse(Verdict.SAFE, Verdict.UNSAFE) and worse(Verdict.SUSPICIOUS, Verdict.UNSAFE)
    assert worse(Verdict.UNSCANNED, Verdict.SUSPICIOUS) and worse(Verdict.SAFE, Verdict.UNSCANNED)
    assert not worse(Verdict.UNSAFE, Verdict.SAFE) and not worse(Verdict.SAFE, Verdict.SAFE)
    assert not worse(Verdict.UNSCANNED, Verdict.SAFE)


def model_with(scan: ScanResult | None):
    from model_service.domain.plans.versions import plan_version

    return plan_version(draft("fraud"), None, replace(file_info(b"weights"), scan=scan)).model


def test_the_plan_records_the_new_scan_and_its_event():
    before = replace(SAFE, scanner_version="1.0.5")
    model = model_with(before)
    unsafe = replace(SAFE, verdict=Verdict.UNSAFE)
    plan = plan_rescan(model, before, unsafe, "rescan", AT)
    assert plan.model.file.scan == unsafe and plan.model.updated_at == model.updated_at
    assert (plan.event.kind, plan.event.actor, plan.event.at) == (EventKind.SCANNED, "rescan", AT)
    assert plan.event.data == {"checksum": model.file.checksum, "from": "safe", "to": "unsafe",
                               "from_scanner_version": "1.0.5", "to_scanner_version": "1.0.5+r2"}


def test_the_plan_refuses_a_scan_that_is_not_the_one_read():
    model = model_with(SAFE)
    with pytest.raises(Conflict) as refused:
        plan_rescan(model, replace(SAFE, scanner_version="1.0.5"), SAFE, "rescan", AT)
    assert refused.value.code == "scan_conflict"
    with pytest.raises(NotFound) as no_file:
        plan_rescan(replace(model, file=None), None, SAFE, "rescan", AT)
    assert no_file.value.code == "file_not_found"
