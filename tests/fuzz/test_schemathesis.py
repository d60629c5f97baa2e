"""Schemathesis runs the whole OpenAPI schema against the app, in process (ASGI, no server).

Every operation gets property-based cases (the schema's examples, its boundary values — the
coverage phase — and random valid and invalid data), then stateful sequences follow the links
Schemathesis infers between operations (register → read, update, upload, alias, delete …).
The run fails on a 5xx, a response that does not match its documented schema (body, content
type, headers), an undocumented status code, an ``Allow`` header that does not match the
documented methods, invalid data the API accepts, or a deleted resource that is still there.

Reproducible: the data are derandomized (the same cases on every run) and no example database
is kept. Bounded: :data:`MAX_EXAMPLES` per operation and phase, :data:`STATEFUL_EXAMPLES`
sequences of at most :data:`STATEFUL_STEPS` calls.

Auth is off (the service's default). An auth-on variant passes its key in :data:`AUTH_HEADERS`
(every call, stateful ones too, sends them); build ``APP`` with auth on and a key it knows, and
the same tests run unchanged.

Exclusions, each with its reason:

- ``positive_data_acceptance`` (schema-valid data must get a 2xx): the registry's rules go
  beyond what JSON Schema can say — an id must exist, a name must exist for name routes, a
  version must be the next one, hyperparameters must nest at most 32 levels, metric names
  follow a pattern of their own. Valid-by-schema requests are rightly refused with 404/409/422;
  the other checks still make sure they are refused *properly* (documented status, error shape).
- ``use_after_free`` on ``GET /api/v1/models/{model_id}/history`` only: the history of a
  deleted version stays readable on purpose (it ends with the ``deleted`` event: who, when).
- ``max_response_time``: timing is not a property of the code on a shared CI machine (not set,
  so not run).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from itertools import count
from pathlib import Path

import hypothesis
import pytest
import schemathesis
from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from model_service.server.app import create_app
from tests.conftest import make_settings
from tests.fuzz.tally import TALLY

MAX_EXAMPLES = 40  # per operation and phase (coverage cases are as many as the schema's boundaries)
STATEFUL_EXAMPLES = 60  # sequences of calls
STATEFUL_STEPS = 8  # calls per sequence at most
SEED = 20261128

# Headers sent with every call: none while auth is off. An auth-on run sets e.g.
# {"Authorization": "Bearer <key>"} here.
AUTH_HEADERS: dict[str, str] = {}

CONFIG = {
    "seed": SEED,
    "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
    # Sequences are made of valid calls (invalid data is each operation's own test): a chain breaks at its first 4xx.
    "phases": {"stateful": {"max-steps": STATEFUL_STEPS, "generation": {"mode": "positive"}}},
    "checks": {"positive_data_acceptance": {"enabled": False}},
    "operations": [
        # A version's history outlives it (the audit trail of its deletion): not a use after free.
        {"include-path": "/api/v1/models/{model_id}/history", "checks": {"use_after_free": {"enabled": False}}},
    ],
}

# Schemathesis makes one test per operation when the test module is collected, so the schema is
# loaded then, from an app of its own: the embedded default (SQLite and a local folder) in a
# temporary folder removed when the process ends; files up to 1 MiB.
_DATA = tempfile.TemporaryDirectory(prefix="model-service-fuzz-")
APP = create_app(make_settings(Path(_DATA.name) / "data", max_file_size=1 << 20))


class WithoutLifespan:
    """The app, its lifespan answered here: Schemathesis ends an ASGI app's lifespan after each
    test, and the app's shutdown closes its stores for good; this module closes them at its end.
    (Its ``app`` is swapped for a fresh one during each stateful scenario.)"""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})


ENTRY = WithoutLifespan(APP)
schema = schemathesis.openapi.from_asgi(
    "/openapi.json", ENTRY,
    config=schemathesis.Config.from_dict({**CONFIG, "headers": AUTH_HEADERS} if AUTH_HEADERS else CONFIG))


@pytest.fixture(scope="session", autouse=True)
def close_the_app() -> Iterator[None]:
    """At the end of the session, not of the module: a parallel worker may run this module's
    tests in more than one stretch (tests/fuzz/tally.py counts the cases and prints the figures)."""
    yield
    close(APP)


def close(app: FastAPI) -> None:
    app.state.registry.metadata.close()
    app.state.registry.blobs.close()


@schema.parametrize()
def test_every_operation_answers_as_documented(case):
    response = case.call_and_validate(headers=AUTH_HEADERS or None)
    TALLY["cases"] += 1
    TALLY[f"operation {case.operation.label}"] += 1
    TALLY[f"status {response.status_code}"] += 1


def test_stateful_sequences_answer_as_documented(tmp_path: Path):
    """Each scenario starts from an empty registry: what a scenario draws depends on what the
    API answered (ids to follow, lists to pick from), and Hypothesis needs the same calls to get
    the same kind of answers when it replays them."""
    template = tmp_path / "template"
    close(create_app(make_settings(template, max_file_size=1 << 20)))  # migrated once, copied per scenario
    scenarios = count()

    class Workflow(schema.as_state_machine()):  # type: ignore[misc]
        def setup(self):
            data_dir = tmp_path / f"scenario{next(scenarios)}"
            TALLY["scenarios"] += 1
            shutil.copytree(template, data_dir)
            ENTRY.app = create_app(make_settings(data_dir, max_file_size=1 << 20))

        def teardown(self):
            fresh, ENTRY.app = ENTRY.app, APP
            close(fresh)
            super().teardown()

        def get_call_kwargs(self, _case):
            return {"headers": AUTH_HEADERS} if AUTH_HEADERS else {}

        def after_call(self, response, case):
            super().after_call(response, case)
            TALLY["stateful steps"] += 1
            TALLY[f"status {response.status_code}"] += 1

    Workflow.run(settings=hypothesis.settings(
        max_examples=STATEFUL_EXAMPLES, stateful_step_count=STATEFUL_STEPS, derandomize=True, database=None,
        deadline=None, suppress_health_check=list(hypothesis.HealthCheck)))
