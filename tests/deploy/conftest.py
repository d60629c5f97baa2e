"""What the deployment files are checked against: the project, read once per session."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .checks import ROOT, Image, Project, load_project, read_dockerfile


@pytest.fixture(scope="session")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    with load_project(tmp_path_factory.mktemp("deploy-data")) as loaded:
        yield loaded


@pytest.fixture(scope="session")
def image() -> Image:
    image, problems = read_dockerfile(ROOT / "Dockerfile")
    assert not problems, problems
    return image


Mutate = Callable[[str, str, str], Path]


@pytest.fixture
def broken(tmp_path: Path) -> Mutate:
    """A copy of the deployment files in which ``relative`` has ``old`` replaced by ``new`` (which
    must be there); returns the copy's root."""
    root = tmp_path / "copy"
    root.mkdir()
    for name in ("Dockerfile", ".dockerignore", "docker-compose.yml", "docker-compose.postgres.yml"):
        shutil.copy(ROOT / name, root / name)
    shutil.copytree(ROOT / "deploy", root / "deploy")

    def mutate(relative: str, old: str, new: str) -> Path:
        path = root / relative
        text = path.read_text()
        assert old in text, f"{old!r} is no longer in {relative}: update this test"
        path.write_text(text.replace(old, new, 1))
        return root

    return mutate
