"""The registry commands run through Click's runner against real ``model-service serve`` processes,
one of each kind for the whole package: an open one, one that requires API keys and one whose
detailed health check fails.

The open server pages at most 3 versions per request (``MAX_PAGE_SIZE=3``), so every listing of
more than three walks pages through the SDK's pager.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from model_service.cli.main import main
from tests.scanfiles import benign_pickle
from tests.system.conftest import LiveServer, start_server, stop_server

ADMIN_KEY = "cli-admin-" + "k" * 40
# What the developer's shell may have set must not reach the commands under test.
CLEAN_ENV = {"MODEL_SERVICE_URL": None, "MODEL_SERVICE_API_KEY": None, "MODEL_SERVICE_CACHE": None}
_names = itertools.count(1)


@dataclass
class Cli:
    """``model-service …`` in process, pointed at one server (via MODEL_SERVICE_URL)."""

    url: str
    env: dict[str, str | None] = field(default_factory=dict)

    def __call__(self, *args: Any, input: str | None = None, env: dict[str, str | None] | None = None) -> Result:
        environment = {**CLEAN_ENV, "MODEL_SERVICE_URL": self.url, **self.env, **(env or {})}
        return CliRunner().invoke(main, [str(arg) for arg in args], env=environment, input=input)

    def ok(self, *args: Any, **options: Any) -> Result:
        result = self(*args, **options)
        assert result.exit_code == 0, f"exit {result.exit_code}\nstdout: {result.stdout}\nstderr: {result.stderr}"
        assert "Traceback" not in result.output
        return result

    def json(self, *args: Any, **options: Any) -> Any:
        """The command's ``--json`` output, parsed back (exit status 0 required)."""
        return json.loads(self.ok(*args, "--json", **options).stdout)

    def push(self, file: Path, name: str, *flags: Any) -> dict[str, Any]:
        """Push ``file`` as ``name``; the new record."""
        return self.json("push", file, "--name", name, *(flags or ("--algorithm", "xgboost")))


def failed(result: Result, exit_code: int, *fragments: str) -> str:
    """Assert the command failed with ``exit_code`` and one ``Error:`` line on stderr naming each
    fragment, nothing on stdout and no traceback; the line."""
    assert result.exit_code == exit_code, f"exit {result.exit_code}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    assert "Traceback" not in result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


SERVERS = {  # each started when a test first asks for it, once for the package
    "open": {"ENABLE_AUTH": "false", "MAX_PAGE_SIZE": "3"},
    "auth": {"ENABLE_AUTH": "true", "BOOTSTRAP_ADMIN_KEY": ADMIN_KEY},
    # never that much free disk: /health/detailed fails its disk_space check
    "unhealthy": {"ENABLE_AUTH": "false", "MAX_FILE_SIZE": "100000TB"},
}


def _serve(tmp_path_factory: pytest.TempPathFactory, label: str) -> Iterator[LiveServer]:
    data_dir = tmp_path_factory.mktemp(f"cli-{label}") / "data"
    data_dir.mkdir()
    live = start_server(data_dir, **SERVERS[label])
    yield live
    stop_server(live)


@pytest.fixture(scope="package")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from _serve(tmp_path_factory, "open")


@pytest.fixture(scope="package")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from _serve(tmp_path_factory, "auth")


@pytest.fixture(scope="package")
def unhealthy_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from _serve(tmp_path_factory, "unhealthy")


@pytest.fixture
def cli(server: LiveServer) -> Cli:
    return Cli(server.url)


@pytest.fixture
def name(request: pytest.FixtureRequest) -> str:
    """A model name no other test uses (the server is shared)."""
    return f"{re.sub(r'[^A-Za-z0-9]+', '_', request.node.name).strip('_')[:60]}_{next(_names)}"


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    """A small pickle that the server's scanner finds safe."""
    path = tmp_path / "model.pkl"
    path.write_bytes(benign_pickle())
    return path
