"""The fuzz run's figures, printed at the end of the test session (CI logs keep them).

A plugin of the root conftest, so that it is loaded by pytest-xdist's controller too, which runs
no test: each worker hands its tally over when it finishes, and the controller adds them up.
Imports nothing heavy (the fuzz module itself builds an app when it is imported)."""

from __future__ import annotations

from collections import Counter

import pytest

TALLY: Counter[str] = Counter()  # cases run in this process, by operation and by status
_KEY = "schemathesis_tally"


def summary(tally: Counter[str]) -> str:
    """How many cases ran, by status."""
    statuses = ", ".join(f"{key[7:]}: {n}" for key, n in sorted(tally.items()) if key.startswith("status "))
    operations = sum(1 for key in tally if key.startswith("operation "))
    return (f"{tally['cases']} cases over {operations} operations, {tally['stateful steps']} stateful steps "
            f"in {tally['scenarios']} scenarios; statuses {statuses}")


def pytest_sessionfinish(session: pytest.Session) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # a pytest-xdist worker: over to the controller
        workeroutput[_KEY] = dict(TALLY)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node) -> None:
    """pytest-xdist's controller: a worker finished."""
    TALLY.update(getattr(node, "workeroutput", {}).get(_KEY, {}))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if TALLY["cases"] or TALLY["stateful steps"]:
        terminalreporter.write_sep("-", "schemathesis")
        terminalreporter.write_line(summary(TALLY))
