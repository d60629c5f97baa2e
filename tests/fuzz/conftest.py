"""The fuzz run's figures at the end of the test session (CI logs keep them)."""

from __future__ import annotations

import sys

import pytest


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    module = sys.modules.get("tests.fuzz.test_schemathesis")
    if module is not None and (module.TALLY["cases"] or module.TALLY["stateful steps"]):
        terminalreporter.write_sep("-", "schemathesis")
        terminalreporter.write_line(module.summary())
